// "Min plan" (server/plans/min_plan.py): the person's own page. The server renders it whole;
// this opens the plan's area zones read-only and re-renders "Målene mine" and "Dette skjer nå"
// whenever the group changes a goal or a measure, and says so in a polite live region so a
// screen reader announces it. Nothing here writes to a zone.
import { h, reconcile } from '../dom.js'
import { t, tEnum } from '../i18n.js'
import { Zone, wsBase } from '../plan/zones.js'
import { itemsOf, textOf, DONE_STATUSES } from '../plan/items.js'
import { startNotes } from './notes.js'

export function start (root) {
  const data = JSON.parse(root.dataset.app)
  const names = data.names || {}
  const today = String(data.today || '')
  const goalsList = root.querySelector('#min-goals')
  const measuresList = root.querySelector('#min-measures')
  const live = root.querySelector('#min-live')
  const specs = Array.isArray(data.zones) ? data.zones : []
  const zones = []
  let ready = false
  let shown = '' // what the lists show now: an update that changes nothing is not announced

  const render = () => {
    const goals = []
    const measures = []
    for (const zone of zones) {
      const area = areaView(zone, names, today)
      goals.push(...area.goals)
      measures.push(...area.measures)
    }
    // What is still to do first, soonest date first (as the server orders them).
    measures.sort((a, b) => (Number(a.done) - Number(b.done)) || (a.end || '9999-12-31').localeCompare(b.end || '9999-12-31') || compare(a.title, b.title))
    const view = JSON.stringify([goals, measures])
    if (view === shown) return false
    shown = view
    reconcile(goalsList, goals.length ? goals.map(goalItem) : [h('li', { class: 'min-item' }, t('min.goalsNone'))])
    reconcile(measuresList, measures.length ? measures.map(measureItem) : [h('li', { class: 'min-item' }, t('min.nextNone'))])
    return true
  }

  const announce = () => {
    // Emptied first, so the same sentence twice is announced twice.
    live.textContent = ''
    window.setTimeout(() => { live.textContent = t('min.live') }, 50)
  }

  const onChange = () => {
    // Called while the zones are still being made, too: wait for every one of them.
    if (!ready && zones.length === specs.length && zones.every((zone) => zone.synced)) {
      ready = true
      render()
      root.dataset.ready = 'true'
    }
  }
  for (const spec of specs) {
    const zone = new Zone({ ...spec, access: 'r' }, { wsBase: wsBase(), userId: 0, ownDevice: false, visit: data.visit, onChange })
    zone.title = spec.title
    zones.push(zone)
    zone.doc.on('update', () => {
      if (ready && render()) announce()
    })
  }
  if (!specs.length) root.dataset.ready = 'true'
  startNotes(root, data)
  window.samplan = { zones }
}

/** The same view server/plans/min_plan.py area_view builds: keep the two in step. */
function areaView (zone, names, today) {
  const doc = zone.doc
  const measures = itemsOf(doc.getArray('measures'))
  const latest = new Map()
  for (const item of itemsOf(doc.getArray('evaluations'))) {
    const goalId = item.get('goalId')
    const when = String(item.get('date') || '')
    const attained = item.get('attainment')
    if (goalId && attained && (!latest.has(goalId) || when >= latest.get(goalId)[0])) latest.set(goalId, [when, String(attained)])
  }
  const goals = itemsOf(doc.getArray('goals')).map((item) => {
    const id = item.get('id')
    const mine = measures.filter((m) => m.get('goalId') === id)
    return {
      id,
      area: zone.title,
      title: textOf(item.get('title')),
      done: mine.filter((m) => DONE_STATUSES.has(m.get('status'))).length,
      total: mine.length,
      attainment: latest.has(id) ? latest.get(id)[1] : null
    }
  })
  return { goals, measures: measures.map((item) => measureView(item, names, today)) }
}

function measureView (item, names, today) {
  const done = DONE_STATUSES.has(item.get('status'))
  const end = typeof item.get('end') === 'string' ? item.get('end') : null
  const responsible = item.get('responsible')
  const ids = responsible && typeof responsible.toArray === 'function' ? responsible.toArray() : []
  const who = ids.filter((id) => typeof id === 'string' && Object.hasOwn(names, id)).map((id) => names[id])
  const external = item.get('externalParty')
  if (external) who.push(String(external))
  return { id: item.get('id'), title: textOf(item.get('title')), who, end, done, overdue: Boolean(end && !done && end < today) }
}

/** Python's str ordering (code points), so the server's and this order agree. */
const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0)

function norwegianDate (iso) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || '')
  return match ? `${match[3]}.${match[2]}.${match[1]}` : null
}

function goalItem (goal) {
  let progress = goal.total ? t('min.progress', { done: goal.done, total: goal.total }) : t('min.progressNone')
  if (goal.attainment) progress += ' ' + t('min.attainment', { value: tEnum('attainment', goal.attainment) })
  return h('li', { class: 'min-item', dataset: { testid: 'min-goal', id: goal.id } },
    h('p', { class: 'min-item-title', dataset: { testid: 'min-goal-title' } }, goal.title),
    h('p', { class: 'min-meta' }, goal.area),
    h('p', { dataset: { testid: 'min-goal-progress' } }, progress))
}

function measureItem (m) {
  const endText = norwegianDate(m.end)
  let when
  if (m.done) when = t('min.done')
  else if (endText) when = [t('min.when') + ': ', h('time', { datetime: m.end }, endText)]
  else when = t('min.whenNone')
  return h('li', { class: ['min-item', m.overdue && 'min-overdue'], dataset: { testid: 'min-measure', id: m.id, overdue: m.overdue ? 'true' : null } },
    h('p', { class: 'min-item-title', dataset: { testid: 'min-measure-title' } }, m.title),
    h('p', { dataset: { testid: 'min-measure-who' } }, `${t('min.who')}: ${m.who.length ? m.who.join(', ') : t('min.whoNone')}`),
    h('p', { dataset: { testid: 'min-measure-when' } }, when),
    m.overdue ? h('p', { class: 'min-late', dataset: { testid: 'min-measure-overdue' } }, h('strong', {}, t('min.overdue'))) : null)
}
