// "The plan today" at a glance (the complaint is "no overview"): how many goals, how the
// measures stand, which are overdue (linked), the last evaluation. Live.
import { h, safeId } from '../dom.js'
import { t, tEnum } from '../i18n.js'
import { formatDate, todayOslo } from '../format.js'
import { textOf, MEASURE_STATUSES, DONE_STATUSES } from './items.js'

export class Overview {
  constructor (ctx, areaViews) {
    this.areaViews = areaViews
    this.stats = h('dl', { class: 'stats' })
    this.overdue = h('ul', { class: 'overdue-list' })
    this.el = h('div', { class: 'overview', dataset: { testid: 'overview' } }, this.stats, this.overdue)
    this.scheduled = false
  }

  schedule () {
    if (this.scheduled) return
    this.scheduled = true
    requestAnimationFrame(() => { this.scheduled = false; this.render() })
  }

  render () {
    const today = todayOslo()
    let goals = 0
    let mainGoals = 0
    const byStatus = new Map()
    const overdue = []
    let lastEvaluation = null
    for (const view of this.areaViews) {
      const { goals: gs, measures, evaluations } = view.summary()
      goals += gs.length
      mainGoals += gs.filter((g) => !g.get('parentId')).length
      for (const m of measures) {
        const status = m.get('status') || 'ikke_startet'
        byStatus.set(status, (byStatus.get(status) || 0) + 1)
        const end = m.get('end')
        if (typeof end === 'string' && end < today && !DONE_STATUSES.has(status)) overdue.push(m)
      }
      for (const e of evaluations) {
        const date = e.get('date')
        if (typeof date === 'string' && (!lastEvaluation || date > lastEvaluation)) lastEvaluation = date
      }
    }
    const measureCount = [...byStatus.values()].reduce((a, b) => a + b, 0)
    const statusText = [...MEASURE_STATUSES, ...[...byStatus.keys()].filter((s) => !MEASURE_STATUSES.includes(s))]
      .filter((s) => byStatus.get(s))
      .map((s) => `${byStatus.get(s)} ${tEnum('measureStatus', s).toLowerCase()}`)
      .join(', ')
    const row = (term, value, testid) => [h('dt', {}, term), h('dd', { dataset: { testid } }, value)]
    this.stats.replaceChildren(
      ...row(t('overview.goals'), t('overview.goalsValue', { n: goals, main: mainGoals }), 'overview-goals'),
      ...row(t('overview.measures'), measureCount ? `${measureCount} (${statusText})` : '0', 'overview-measures'),
      ...row(t('overview.overdue'), String(overdue.length), 'overview-overdue'),
      ...row(t('overview.lastEvaluation'), lastEvaluation ? formatDate(lastEvaluation) : t('overview.none'), 'overview-last-evaluation')
    )
    this.overdue.replaceChildren(...overdue.map((m) => h('li', {},
      h('a', { href: `#measure-${safeId(m.get('id'))}` }, textOf(m.get('title')) || t('item.untitled')),
      ` (${t('overview.endedOn', { date: formatDate(m.get('end')) })})`)))
    this.overdue.hidden = overdue.length === 0
  }
}
