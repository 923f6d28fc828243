// "Min plan" (server/plans/min_plan.py): the person's own page. The server renders it whole;
// this opens the plan's zones, re-renders "Målene mine" and "Dette skjer nå" whenever the
// group changes a goal or a measure, and says so in a polite live region so a screen reader
// announces it. The person (planeier or verge) writes here in their own words: "Om meg"
// (rich text, edited live) and, per goal, "Jeg vil ..." and their own status
// (../plan/own.js). Whose words they are is the server's record, never the document's.
import { h, uid, reconcile, safeColor } from '../dom.js'
import { t, tEnum } from '../i18n.js'
import { Zone, wsBase } from '../plan/zones.js'
import { itemsOf, textOf, DONE_STATUSES } from '../plan/items.js'
import { startNotes } from './notes.js'
import { AreaRecords, lastWriterOf } from '../plan/records.js'
import { richText } from '../plan/richtext.js'
import {
  OWN_WORDS, OWN_FIELDS, OWN_STATUS_FIELDS, OWN_STATUSES, OWN_EMOJIS, MAX_LENGTHS,
  OWNER_ROLES, ownOf, hasAny, statusParts, ownCredit, lengthOf
} from '../plan/own.js'

const OWN_ORIGIN = 'min-own' // my own writes: not announced as the group's news

export function start (root) {
  const data = JSON.parse(root.dataset.app)
  const names = data.names || {}
  const roles = data.roles || {}
  const me = data.me || {}
  const user = { id: String(me.id || ''), name: String(me.name || ''), color: safeColor(me.color) }
  const today = String(data.today || '')
  const goalsList = root.querySelector('#min-goals')
  const measuresList = root.querySelector('#min-measures')
  const live = root.querySelector('#min-live')
  const specs = Array.isArray(data.zones) ? data.zones : []
  const zones = []
  const goalViews = new Map() // "<area key>/<goal id>" -> GoalView
  let ready = false
  let shown = '' // what the lists show now: an update that changes nothing is not announced
  const ctx = { names, roleOf: (id) => roles[id], me: user.id }

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
    const view = JSON.stringify([goals, measures], (key, value) => (key === 'zone' ? undefined : value))
    if (view === shown) return false
    shown = view
    const seen = new Set()
    const goalEls = goals.map((goal) => {
      const key = `${goal.zone.key}/${goal.id}`
      seen.add(key)
      let goalView = goalViews.get(key)
      if (!goalView) goalViews.set(key, (goalView = new GoalView(goal.zone, goal.id, ctx)))
      goalView.update(goal)
      return goalView.el
    })
    for (const key of [...goalViews.keys()]) if (!seen.has(key)) goalViews.delete(key)
    reconcile(goalsList, goalEls.length ? goalEls : [h('li', { class: 'min-item' }, t('min.goalsNone'))])
    reconcile(measuresList, measures.length ? measures.map(measureItem) : [h('li', { class: 'min-item' }, t('min.nextNone'))])
    return true
  }

  const announce = () => {
    // Emptied first, so the same sentence twice is announced twice.
    live.textContent = ''
    window.setTimeout(() => { live.textContent = t('min.live') }, 50)
  }

  const content = data.content && typeof data.content === 'object' ? data.content : null
  let contentZone = null
  const onChange = () => {
    for (const zone of [...zones, contentZone]) if (zone && zone.records) zone.records.zoneChanged()
    for (const goalView of goalViews.values()) goalView.saveState()
    // Called while the zones are still being made, too: wait for every one of them.
    if (!ready && zones.length === specs.length && zones.every((zone) => zone.synced) && (!content || (contentZone && contentZone.synced))) {
      ready = true
      render()
      if (contentZone) mountAboutMe(root, contentZone, user, ctx, data.planId)
      root.dataset.ready = 'true'
    }
  }
  for (const spec of specs) {
    const zone = new Zone({ ...spec, access: spec.access === 'rw' ? 'rw' : 'r' }, { wsBase: wsBase(), userId: 0, ownDevice: false, visit: data.visit, onChange })
    zone.title = spec.title
    zone.provider.awareness.setLocalStateField('user', user)
    zones.push(zone)
    zone.doc.on('update', (_update, origin) => {
      if (ready && render() && origin !== OWN_ORIGIN) announce()
    })
    // Who wrote each goal's own words, from the server's records.
    zone.records = new AreaRecords(zone, data.planId)
    zone.records.watch(() => { if (ready) for (const goalView of goalViews.values()) if (goalView.zone === zone) goalView.renderOwn() })
  }
  if (content) {
    contentZone = new Zone({ ...content, access: content.access === 'rw' ? 'rw' : 'r' }, { wsBase: wsBase(), userId: 0, ownDevice: false, visit: data.visit, onChange })
    contentZone.provider.awareness.setLocalStateField('user', user)
  }
  if (!specs.length && !content) root.dataset.ready = 'true'
  startNotes(root, data)
  window.samplan = { zones, content: contentZone }
}

/** "Du skrev dette." / "Kari Nilsen skrev dette." / "Vi vet ikke ...": a credit's words. */
function creditText (credit, name) {
  if (credit === 'me') return t('min.byMe')
  if (credit === 'owner' || credit === 'other') return t('min.by', { name })
  if (credit === 'unknown') return t('min.byUnknown')
  return ''
}

/** "Om meg": the live editor (read-only for whoever may not write the content zone) in place
 * of the text the server rendered, and who last wrote it by the records, kept live. */
function mountAboutMe (root, zone, user, ctx, planId) {
  const slot = root.querySelector('#min-about-text')
  if (!slot) return
  const editor = richText({
    fragment: zone.doc.getXmlFragment('aboutMe'),
    provider: zone.provider,
    user,
    editable: zone.writable,
    label: t('min.about'),
    testid: 'min-about-editor',
    placeholder: zone.writable ? t('min.aboutNone') : ''
  })
  editor.editor.view.dom.setAttribute('aria-describedby', 'min-about-hint min-about-by')
  slot.replaceChildren(editor.el)
  const byline = root.querySelector('#min-about-by')
  if (!byline) return
  const fragment = zone.doc.getXmlFragment('aboutMe')
  const records = new AreaRecords(zone, planId, `/plans/${encodeURIComponent(planId)}/content/changes`)
  zone.records = records
  const render = () => {
    // Nobody is named while the records may not yet hold the last change (asked again, or
    // a change of mine not yet stored).
    const waiting = !records.loaded || records.stale || records.again || records.timer || records.inFlight || zone.pending
    const empty = fragment.toString().replace(/<[^>]*>/g, '').trim() === ''
    let credit = 'empty'
    let name = ''
    if (!empty && waiting) credit = 'pending'
    else if (!empty) {
      const entry = lastWriterOf(records, 'aboutMe', 'aboutMe')
      if (!entry || entry.userId == null) credit = 'unknown'
      else {
        name = entry.name || ctx.names[String(entry.userId)] || ''
        credit = String(entry.userId) === ctx.me ? 'me' : OWNER_ROLES.has(ctx.roleOf(String(entry.userId))) ? 'owner' : 'other'
      }
    }
    byline.dataset.credit = credit
    byline.textContent = creditText(credit, name)
  }
  zone.doc.on('update', render)
  records.watch(render)
}

/**
 * One goal in "Målene mine": title, progress, my own words and status (with who wrote them),
 * and for the person a form to write them. Kept per goal id, so a change from the group
 * never takes away what is being typed in the form.
 */
class GoalView {
  constructor (zone, id, ctx) {
    this.zone = zone
    this.id = id
    this.ctx = ctx
    this.goal = null
    this.saving = false
    const titleId = uid('min-goal')
    this.title = h('p', { class: 'min-item-title', id: titleId, dataset: { testid: 'min-goal-title' } })
    this.area = h('p', { class: 'min-meta' })
    this.progress = h('p', { dataset: { testid: 'min-goal-progress' } })
    this.own = h('div', { class: 'min-own', dataset: { testid: 'min-own' } })
    this.saved = h('p', { class: 'min-saved', role: 'status', dataset: { testid: 'min-own-saved' } })
    this.el = h('li', { class: 'min-item', dataset: { testid: 'min-goal', id } }, this.title, this.area, this.progress, this.own)
    if (zone.writable) {
      this.form = new OwnForm(this, titleId)
      this.open = h('button', {
        type: 'button', class: 'btn btn-small', aria: { expanded: 'false', controls: this.form.el.id, describedby: titleId },
        dataset: { testid: 'min-own-open' }, onclick: () => this.form.show()
      }, t('min.ownOpen'))
      this.el.append(this.open, this.saved, this.form.el)
    }
  }

  update (goal) {
    this.goal = goal
    this.title.textContent = goal.title
    this.area.textContent = goal.area
    let progress = goal.total ? t('min.progress', { done: goal.done, total: goal.total }) : t('min.progressNone')
    if (goal.attainment) progress += ' ' + t('min.attainment', { value: tEnum('attainment', goal.attainment) })
    this.progress.textContent = progress
    this.renderOwn()
  }

  renderOwn () {
    const own = this.goal && this.goal.own
    if (!own) return
    const parts = []
    if (own.ownWords) {
      parts.push(h('p', { dataset: { testid: 'min-own-words' } }, h('strong', {}, t('min.iWant')), ' ', own.ownWords),
        this.byline('words', [OWN_WORDS], own))
    }
    if (hasAny(own, OWN_STATUS_FIELDS)) {
      parts.push(h('p', { dataset: { testid: 'min-own-status' } }, h('strong', {}, t('min.statusShown')), statusParts(own)),
        this.byline('status', OWN_STATUS_FIELDS, own))
    }
    this.own.replaceChildren(...parts)
  }

  byline (kind, fields, own) {
    const { ctx } = this
    const found = ownCredit({ records: this.zone.records, zone: this.zone, itemId: this.id, fields, own, roleOf: ctx.roleOf, me: ctx.me })
    const text = creditText(found.credit, found.entry ? found.entry.name || ctx.names[String(found.entry.userId)] || '' : '')
    return h('p', { class: 'min-meta min-by', dataset: { testid: `min-own-${kind}-by`, credit: found.credit } }, text)
  }

  /** Write what the form holds: only the fields that changed, in one transaction. */
  write (values) {
    const goals = this.zone.doc.getArray('goals')
    const map = itemsOf(goals).find((item) => item.get('id') === this.id)
    if (!map) return false
    const now = ownOf(map)
    const changed = OWN_FIELDS.filter((field) => values[field] !== now[field])
    if (!changed.length) return true
    this.zone.doc.transact(() => {
      for (const field of changed) map.set(field, values[field] === '' ? null : values[field])
    }, OWN_ORIGIN)
    this.saving = true
    this.saveState()
    return true
  }

  /** "Lagrer nå." until the server has stored it (the zone's acknowledgement), then "lagret". */
  saveState () {
    if (!this.saving) return
    const zone = this.zone
    if (zone.shapeRefused || zone.writeRefused || zone.closedForGood) {
      this.saving = false
      this.saved.textContent = t('min.notSaved')
    } else if (zone.pending) {
      if (this.saved.textContent !== t('min.saving')) this.saved.textContent = t('min.saving')
    } else {
      this.saving = false
      this.saved.textContent = t('min.saved')
    }
  }
}

/** The form for one goal's own words and status. Too long a text is said next to the field
 * and never cut: what was typed stays until it fits. */
class OwnForm {
  constructor (view, titleId) {
    this.view = view
    const id = uid('min-own')
    const field = (name, label, hint, control) => {
      const hintId = `${id}-${name}-hint`
      const errorId = `${id}-${name}-error`
      control.id = `${id}-${name}`
      control.setAttribute('aria-describedby', `${hintId} ${errorId}`)
      const error = h('p', { class: 'field-error', id: errorId, hidden: true, dataset: { testid: `min-own-${name}-error` } })
      return {
        control,
        error,
        el: h('div', { class: 'field min-field' },
          h('label', { class: 'field-label', for: control.id }, label),
          h('p', { class: 'hint', id: hintId }, hint), control, error)
      }
    }
    this.words = field('words', t('min.ownWords'), t('min.ownWordsHint', { max: MAX_LENGTHS.ownWords }),
      h('textarea', { class: 'input', rows: '3', dataset: { testid: 'min-own-words-input' } }))
    this.note = field('note', t('min.ownNote'), t('min.ownNoteHint', { max: MAX_LENGTHS.ownNote }),
      h('input', { class: 'input', type: 'text', dataset: { testid: 'min-own-note-input' } }))
    this.radios = ['', ...OWN_STATUSES].map((value) => h('input', { type: 'radio', name: `${id}-status`, value, dataset: { testid: `min-own-status-${value || 'none'}` } }))
    const how = h('fieldset', { class: 'min-how' },
      h('legend', { class: 'field-label' }, t('min.ownHow')),
      ...this.radios.map((radio) => h('label', { class: 'min-choice' }, radio, ' ', radio.value ? tEnum('ownStatus', radio.value) : t('min.ownStatusNone'))))
    this.emoji = h('select', { class: 'input', id: `${id}-emoji`, dataset: { testid: 'min-own-emoji' } },
      h('option', { value: '' }, t('min.ownEmojiNone')),
      ...OWN_EMOJIS.map((emoji) => h('option', { value: emoji }, `${emoji} ${tEnum('ownEmoji', emoji)}`)))
    const emojiField = h('div', { class: 'field min-field' }, h('label', { class: 'field-label', for: this.emoji.id }, t('min.ownEmoji')), this.emoji)
    for (const part of [this.words, this.note]) part.control.addEventListener('input', () => this.check(part, false))
    this.el = h('form', { class: 'min-own-form', id, hidden: true, novalidate: true, aria: { labelledby: titleId }, dataset: { testid: 'min-own-form' }, onsubmit: (event) => { event.preventDefault(); this.save() } },
      this.words.el, how, emojiField, this.note.el,
      h('div', { class: 'min-actions' },
        h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'min-own-save' } }, t('min.save')),
        h('button', { type: 'button', class: 'btn', dataset: { testid: 'min-own-cancel' }, onclick: () => this.hide() }, t('min.cancel'))))
    this.el.addEventListener('keydown', (event) => { if (event.key === 'Escape') this.hide() })
  }

  show () {
    const own = (this.view.goal && this.view.goal.own) || ownOf(new Map())
    this.words.control.value = own.ownWords
    this.note.control.value = own.ownNote
    for (const radio of this.radios) radio.checked = radio.value === own.ownStatus
    this.emoji.value = own.ownEmoji
    for (const part of [this.words, this.note]) this.check(part, false)
    this.el.hidden = false
    this.view.open.setAttribute('aria-expanded', 'true')
    this.view.open.hidden = true
    this.view.saved.textContent = ''
    this.words.control.focus()
  }

  hide () {
    this.el.hidden = true
    this.view.open.hidden = false
    this.view.open.setAttribute('aria-expanded', 'false')
    this.view.open.focus()
  }

  /** Whether the field's text fits; says so next to it when it does not. */
  check (part, strict) {
    const name = part === this.words ? 'ownWords' : 'ownNote'
    const count = lengthOf(part.control.value)
    const tooLong = count > MAX_LENGTHS[name]
    if (tooLong || !part.error.hidden || strict) {
      part.error.hidden = !tooLong
      part.error.textContent = tooLong ? t('min.ownTooLong', { max: MAX_LENGTHS[name], count }) : ''
      part.control.setAttribute('aria-invalid', String(tooLong))
    }
    return !tooLong
  }

  save () {
    const bad = [this.words, this.note].filter((part) => !this.check(part, true))
    if (bad.length) { bad[0].control.focus(); return }
    const checked = this.radios.find((radio) => radio.checked)
    const values = {
      ownWords: this.words.control.value.trim(),
      ownStatus: checked ? checked.value : '',
      ownEmoji: this.emoji.value,
      ownNote: this.note.control.value.trim()
    }
    if (this.view.write(values)) this.hide()
    else this.view.saved.textContent = t('min.notSaved')
  }
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
      attainment: latest.has(id) ? latest.get(id)[1] : null,
      own: ownOf(item),
      zone
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
