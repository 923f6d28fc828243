// Who changed each goal, measure and evaluation of one area, as the server recorded it
// (GET /plans/<id>/areas/<key>/changes, server/plans/item_history.py). The only source of
// "Sist endret av", of an item's history and of who wrote an evaluation's comment: an
// `updatedBy` / `updatedAt` in the document is whatever some client wrote there, so it is
// never read (issue 11).
//
// Live: any change to the area document (mine or anyone's) asks again, debounced, one request
// at a time. A change of mine may not be stored yet when the answer is made; then the answer
// is marked stale and asked for again once the zone says everything is saved.
import { h, uid } from '../dom.js'
import { t, tEnum } from '../i18n.js'
import { formatDate, formatDateTime } from '../format.js'

const DEBOUNCE_MS = 800
const RETRY_MS = 5000

export class AreaRecords {
  constructor (zone, planId, url = null) {
    this.zone = zone
    // An area's records, or the content zone's ("Om meg"): /plans/<id>/content/changes.
    this.url = url || `/plans/${encodeURIComponent(planId)}/areas/${encodeURIComponent(zone.key)}/changes`
    this.items = new Map() // item id -> {root, last, history}
    this.loaded = false
    this.failed = false
    this.watchers = new Set()
    this.timer = null
    this.inFlight = false
    this.again = false // a change arrived while asking: ask once more after
    this.stale = false // the last answer may miss a change of mine not yet stored
    this.refused = false // 401/403/404: a final answer, not asked again until something changes
    zone.doc.on('update', () => this.schedule())
    window.addEventListener('samplan:session-back', () => this.schedule(0))
    this.schedule(0)
  }

  get (itemId) { return this.items.get(itemId) || null }

  /** Call `render()` now and after every answer; returns an unsubscriber. */
  watch (render) {
    this.watchers.add(render)
    render()
    return () => this.watchers.delete(render)
  }

  /** Called when the zone's saved state may have changed (app.js's onChange). */
  zoneChanged () {
    if (this.stale && !this.zone.pending) { this.stale = false; this.schedule() }
  }

  schedule (delay = DEBOUNCE_MS) {
    if (this.inFlight) { this.again = true; return }
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.fetch(), delay)
  }

  async fetch () {
    this.timer = null
    this.refused = false
    this.inFlight = true
    this.again = false
    const pendingAtStart = this.zone.pending
    let ok = false
    try {
      const response = await fetch(this.url, { credentials: 'same-origin', headers: { accept: 'application/json' } })
      if (response.ok) {
        const data = await response.json()
        const items = data && typeof data.items === 'object' && data.items ? data.items : {}
        this.items = new Map(Object.entries(items))
        this.loaded = true
        this.failed = false
        ok = true
      } else if ([401, 403, 404].includes(response.status)) {
        this.refused = true // logged out, or no longer allowed: retrying would not help
      }
    } catch { /* offline: asked again below */ }
    this.inFlight = false
    if (!ok) this.failed = true
    if (ok && pendingAtStart) this.stale = true
    for (const render of [...this.watchers]) {
      try { render() } catch (error) { console.error(error) }
    }
    if (this.again) this.schedule()
    else if (!ok && !this.refused) this.schedule(RETRY_MS)
    else this.zoneChanged()
  }
}

/** A recorded name: the users table's, or the server itself for a change it made. */
export function nameOf (entry) {
  if (!entry) return ''
  if (entry.userId == null) return t('member.system')
  return entry.name || t('member.unknown')
}

/** "Sist endret av Kari Nilsen 05.09.2025 10:30" for one item, kept live. */
export function changedLine (records, itemId) {
  const el = h('p', { class: 'changed', dataset: { testid: `changed-${itemId}` } })
  const render = () => {
    const record = records.get(itemId)
    const last = record && record.last
    el.textContent = last ? t('item.changed', { name: nameOf(last), when: formatDateTime(last.at) }) : ''
  }
  return { el, destroy: records.watch(render) }
}

/** The last recorded change that wrote `field` of the item (null: nobody is on record). */
export function lastWriterOf (records, itemId, field) {
  const record = records.get(itemId)
  if (!record) return null
  for (let i = record.history.length - 1; i >= 0; i--) {
    const entry = record.history[i]
    if ((entry.fields || []).some((f) => f.field === field)) return entry
  }
  return null
}

// --- the history dialog --------------------------------------------------------------------

const FIELD_LABELS = {
  goals: {
    title: 'goal.title', label: 'history.field.label', parentId: 'history.field.parentId',
    ownWords: 'goal.ownWords', ownStatus: 'goal.ownStatus', ownEmoji: 'goal.ownEmoji', ownNote: 'goal.ownNote'
  },
  measures: {
    title: 'measure.title', status: 'measure.status', start: 'measure.start', end: 'measure.end',
    scope: 'measure.scope', externalParty: 'measure.externalParty', responsible: 'measure.responsible',
    goalId: 'history.field.goalId', meetingId: 'history.field.meetingId'
  },
  evaluations: {
    date: 'evaluation.date', attainment: 'evaluation.attainment', result: 'evaluation.result',
    worked: 'evaluation.worked', change: 'evaluation.change', next: 'evaluation.next',
    responsible: 'evaluation.responsible', nextReview: 'evaluation.nextReview',
    ownerComment: 'history.field.ownerComment', goalId: 'history.field.goalId'
  }
}
const DATE_FIELDS = new Set(['start', 'end', 'date', 'nextReview'])
const ENUM_PREFIXES = { status: 'measureStatus', attainment: 'attainment', ownStatus: 'ownStatus' }
const REFERENCE_FIELDS = new Set(['goalId', 'parentId', 'meetingId'])

function fieldLabel (root, field) {
  const key = (FIELD_LABELS[root] || {})[field]
  return key ? t(key) : field
}

function valueText (field, value) {
  if (value === null || value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) return t('history.empty')
  if (Array.isArray(value)) return value.map(String).join(', ')
  if (DATE_FIELDS.has(field)) return formatDate(value)
  if (ENUM_PREFIXES[field]) return tEnum(ENUM_PREFIXES[field], value)
  return String(value)
}

/** One field's change as a sentence: "Tittel: gammel → ny", or only that it changed. */
function fieldLine (root, change) {
  const label = fieldLabel(root, change.field)
  if (change.edited) return t('history.richEdited')
  if (REFERENCE_FIELDS.has(change.field)) return t('history.changed', { field: label })
  return t('history.change', { field: label, old: valueText(change.field, change.old), new: valueText(change.field, change.new) })
}

function entryView (root, entry) {
  const what = []
  if (entry.created) what.push(h('li', { class: 'history-what' }, t('history.created')))
  for (const change of entry.fields || []) {
    // A new item: "opprettet" and what it was given; its description comes with it.
    if (entry.created && (change.edited || (change.old == null && valueText(change.field, change.new) === t('history.empty')))) continue
    what.push(h('li', { class: 'history-field' }, fieldLine(root, change)))
  }
  if (entry.deleted) what.push(h('li', { class: 'history-what' }, t('history.deleted')))
  return h('li', { class: 'history-entry', dataset: { testid: 'history-entry', userId: entry.userId ?? '' } },
    h('p', { class: 'history-meta' },
      h('span', { class: 'history-author' }, nameOf(entry)), ' ',
      h('time', { datetime: entry.at }, formatDateTime(entry.at))),
    h('ul', { class: 'history-fields' }, what))
}

/**
 * One dialog per page for an item's history: opened from the item's "Historikk" button, a
 * modal <dialog> (the browser keeps focus inside it and closes it on Escape); closing puts
 * the focus back on the button. Oldest change first, kept live while open.
 */
export class HistoryDialog {
  constructor () {
    const headingId = uid('history-heading')
    this.heading = h('h2', { id: headingId, class: 'history-heading' })
    this.note = h('p', { class: 'muted history-order' }, t('history.order'))
    this.list = h('ol', { class: 'history-list', dataset: { testid: 'history-list' } })
    this.status = h('p', { class: 'muted', role: 'status' })
    this.alert = h('p', { class: 'error-box', role: 'alert', hidden: true })
    this.closeButton = h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: 'history-close' }, onclick: () => this.el.close() }, t('history.close'))
    this.el = h('dialog', { class: 'history-dialog', aria: { labelledby: headingId }, dataset: { testid: 'history-dialog' } },
      h('div', { class: 'history-head' }, this.heading, this.closeButton), this.note, this.status, this.alert, this.list)
    this.el.addEventListener('close', () => this.closed())
    this.unwatch = null
    this.opener = null
  }

  open ({ records, itemId, root, title, opener }) {
    if (this.el.open) this.el.close()
    this.opener = opener
    this.heading.textContent = t('history.title', { item: title })
    const render = () => this.render(records, itemId, root)
    this.unwatch = records.watch(render)
    this.el.showModal()
    this.closeButton.focus()
  }

  render (records, itemId, root) {
    const record = records.get(itemId)
    const history = record ? record.history : []
    this.alert.hidden = !(records.failed && !records.loaded)
    this.alert.textContent = this.alert.hidden ? '' : t('history.error')
    this.status.textContent = !records.loaded ? (records.failed ? '' : t('history.loading')) : (history.length ? '' : t('history.none'))
    this.list.replaceChildren(...history.map((entry) => entryView(root, entry)))
  }

  closed () {
    if (this.unwatch) { this.unwatch(); this.unwatch = null }
    const opener = this.opener
    this.opener = null
    if (opener && opener.isConnected) opener.focus()
  }
}
