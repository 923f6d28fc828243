// The minutes page: one live `minutes/<meeting-id>` zone (same Zone / WebsocketProvider
// machinery as the plan page), written together by the koordinator and the deltakere and
// read by the others. Attendance, one section per agenda item (rich text body + decision),
// and action items that the server turns into measures ("Gjør til tiltak").
import * as Y from 'yjs'
import { h, safeColor, safeId, reconcile, uid } from '../dom.js'
import { t } from '../i18n.js'
import { Zone, wsBase } from '../plan/zones.js'
import { ConnectionStatus } from '../plan/status.js'
import { LocalOrigin } from '../plan/undo.js'
import { Presence } from '../plan/presence.js'
import { richText } from '../plan/richtext.js'
import { textField, plainField, watchKey } from '../plan/fields.js'
import { newItem, itemsOf } from '../plan/items.js'

export function start (root) {
  const data = JSON.parse(root.dataset.app)
  const me = data.me
  const members = Array.isArray(data.members) ? data.members : []
  const membersById = new Map(members.map((m) => [String(m.id), m]))
  const user = { id: String(me.id), name: me.name, role: me.role, color: safeColor(me.color) }

  let status = null
  const zone = new Zone(data.zone, { wsBase: wsBase(), userId: me.id, ownDevice: false, onChange: () => status && status.update() })
  zone.origin = new LocalOrigin(zone.room)
  zone.provider.awareness.setLocalStateField('user', user)
  window.samplan = { docs: { [zone.room]: zone.doc }, providers: { [zone.room]: zone.provider }, zones: [zone] }

  const ctx = {
    data, me, user, members, membersById, zone,
    doc: zone.doc, origin: zone.origin, writable: zone.writable, provider: zone.provider
  }
  status = new ConnectionStatus(root, [zone])
  const presence = new Presence([zone], ctx)
  const main = h('div', { class: 'plan-main' },
    attendanceSection(ctx), agendaSection(ctx), actionsSection(ctx))
  const side = h('aside', { class: 'plan-side', aria: { label: t('side.label') } }, presence.el)
  root.append(h('div', { class: 'plan-bar' }, status.el), h('div', { class: 'plan-layout' }, main, side))
  for (const form of document.querySelectorAll('form[data-wait-saved]')) submitWhenSaved(form, zone)
  root.dataset.ready = 'true'
  status.update()
}

/** A <section> with an h2; `body` is where its content goes. */
function section (id, title, testid) {
  const headingId = `${id}-heading`
  const body = h('div', { class: 'section-body' })
  const el = h('section', { class: 'card', id, aria: { labelledby: headingId }, dataset: { testid } },
    h('div', { class: 'section-head' }, h('h2', { id: headingId }, title)), body)
  return { el, body, headingId }
}

/**
 * Keep `container` showing one view per item of `array`, reusing views by item id so a
 * remote insert never rebuilds (and blurs) what someone is typing in.
 */
function liveList (array, container, make, empty) {
  const views = new Map()
  const render = () => {
    const items = itemsOf(array)
    const seen = new Set()
    const nodes = items.map((item, index) => {
      const id = item.get('id')
      seen.add(id)
      let view = views.get(id)
      if (!view || view.item !== item) {
        if (view) view.destroy()
        view = { item, ...make(item, index) }
        views.set(id, view)
      }
      return view.el
    })
    for (const [id, view] of views) if (!seen.has(id)) { view.destroy(); views.delete(id) }
    reconcile(container, nodes.length ? nodes : [empty])
  }
  array.observe(render)
  render()
}

/** A labelled <select>; `read()` gives the current value, `write(value)` stores a choice. */
function choice (ctx, { label, options, read, write, watch, testid, describedBy }) {
  if (!ctx.writable) {
    const value = h('span', { class: 'field-value', dataset: { testid } })
    const render = () => {
      const found = options().find((o) => o.value === read())
      value.textContent = found ? found.text : '–'
    }
    return { el: h('div', { class: 'field field-ro' }, h('span', { class: 'field-label' }, label), value), destroy: watch(render) }
  }
  const id = uid('sel')
  const select = h('select', { id, class: 'input input-select', dataset: { testid }, aria: { describedby: describedBy } })
  const render = () => {
    const current = read()
    const opts = options()
    select.replaceChildren(...opts.map((o) => o.group
      ? h('optgroup', { label: o.group }, ...o.options.map((x) => h('option', { value: x.value }, x.text)))
      : h('option', { value: o.value }, o.text)))
    select.value = current
    select.dataset.value = current
  }
  select.addEventListener('change', () => write(select.value))
  return { el: h('div', { class: 'field' }, h('label', { class: 'field-label', for: id }, label), select), destroy: watch(render) }
}

const watchKeys = (ymap, keys) => (render) => {
  const unwatch = keys.map((key) => watchKey(ymap, key, render))
  return () => unwatch.forEach((f) => f())
}

// --- attendance ------------------------------------------------------------------------------

function attendanceSection (ctx) {
  const s = section('min-attendance', t('minutes.attendance'), 'section-attendance')
  const list = h('ul', { class: 'simple-list' })
  s.body.append(list)
  const empty = h('li', { class: 'muted' }, t('minutes.attendance.none'))
  liveList(ctx.doc.getArray('attendees'), list, (item) => attendee(ctx, item), empty)
  return s.el
}

function attendee (ctx, item) {
  const key = safeId(item.get('userId') || item.get('id'))
  const nameId = uid('att')
  const state = () => (item.get('present') === true ? 'present' : item.get('apology') === true ? 'apology' : '')
  const attendance = choice(ctx, {
    label: t('minutes.attendance.label'),
    describedBy: nameId,
    testid: `attendee-status-${key}`,
    options: () => ['', 'present', 'apology'].map((v) => ({ value: v, text: t(v ? `minutes.attendance.${v}` : 'minutes.attendance.unknown') })),
    read: state,
    write: (value) => ctx.doc.transact(() => {
      item.set('present', value === 'present' ? true : value === 'apology' ? false : null)
      item.set('apology', value === 'apology' ? true : value === 'present' ? false : null)
    }, ctx.origin),
    watch: watchKeys(item, ['present', 'apology'])
  })
  const note = plainField(ctx, item, 'note', { label: t('minutes.attendance.note'), describedBy: nameId, testid: `attendee-note-${key}` })
  const el = h('li', { class: 'simple-item', dataset: { testid: `attendee-${key}` } },
    h('p', { class: 'member-name', id: nameId }, String(item.get('name') || t('member.unknown')),
      item.get('role') ? h('span', { class: 'muted' }, ` · ${item.get('role')}`) : null),
    h('div', { class: 'field-grid' }, attendance.el, note.el))
  return { el, destroy: () => { attendance.destroy(); note.destroy() } }
}

// --- agenda ----------------------------------------------------------------------------------

function agendaSection (ctx) {
  const s = section('min-agenda', t('minutes.agenda'), 'section-agenda')
  const agenda = ctx.doc.getArray('agenda')
  const list = h('div', { class: 'agenda-list' })
  s.body.append(list)
  const empty = h('p', { class: 'muted' }, t('minutes.agenda.none'))
  liveList(agenda, list, (item, index) => agendaItem(ctx, item, index), empty)
  if (ctx.writable) {
    s.body.append(h('p', { class: 'add-row' }, h('button', {
      type: 'button', class: 'btn btn-add', dataset: { testid: 'add-agenda' },
      onclick: () => ctx.doc.transact(() => agenda.push([newItem({ title: t('minutes.agenda.newTitle'), body: null, decision: '' })]), ctx.origin)
    }, t('minutes.agenda.add'))))
  }
  return s.el
}

function agendaItem (ctx, item, index) {
  const id = item.get('id')
  const headingId = uid('sak')
  const heading = h('h3', { id: headingId }, `${t('minutes.agenda.title')} ${index + 1}`)
  const title = textField(ctx, item, 'title', {
    label: t('minutes.agenda.title'), hideLabel: true, describedBy: headingId, wide: true, testid: `agenda-title-${id}`, singleLine: true
  })
  let fragment = item.get('body')
  if (!(fragment instanceof Y.XmlFragment) && ctx.writable) {
    ctx.doc.transact(() => item.set('body', new Y.XmlFragment()), ctx.origin)
    fragment = item.get('body')
  }
  const body = fragment instanceof Y.XmlFragment
    ? richText({
      fragment,
      provider: ctx.provider,
      user: ctx.user,
      editable: ctx.writable,
      label: `${t('minutes.agenda.body')}, ${t('minutes.agenda.title')} ${index + 1}`,
      testid: `agenda-body-${id}`,
      placeholder: ctx.writable ? t('rt.placeholder') : t('rt.emptyReadonly')
    })
    : { el: h('p', { class: 'muted' }, '–'), destroy: () => {} }
  const decision = textField(ctx, item, 'decision', {
    label: t('minutes.agenda.decision'), multiline: true, rows: 2, wide: true, describedBy: headingId, testid: `agenda-decision-${id}`
  })
  const el = h('article', { class: 'goal agenda-item', id: `agenda-${safeId(id)}`, aria: { labelledby: headingId }, dataset: { testid: `agenda-${id}` } },
    heading, title.el,
    h('p', { class: 'field-label' }, t('minutes.agenda.body')), body.el,
    decision.el)
  return { el, destroy: () => { title.destroy(); body.destroy(); decision.destroy() } }
}

// --- action items ----------------------------------------------------------------------------

function actionsSection (ctx) {
  const s = section('min-actions', t('minutes.actions'), 'section-actions')
  const items = ctx.doc.getArray('actionItems')
  const list = h('div', { class: 'action-list' })
  s.body.append(list)
  const empty = h('p', { class: 'muted' }, t('minutes.actions.none'))
  liveList(items, list, (item, index) => actionItem(ctx, item, index), empty)
  if (ctx.writable) {
    s.body.append(h('p', { class: 'add-row' }, h('button', {
      type: 'button', class: 'btn btn-add', dataset: { testid: 'add-action' },
      onclick: () => ctx.doc.transact(() => items.push([newItem({
        agendaId: null, what: '', responsibleUserId: null, due: null, areaId: null, goalId: null, measureId: null
      })]), ctx.origin)
    }, t('minutes.actions.add'))))
  }
  return s.el
}

function actionItem (ctx, item, index) {
  const id = item.get('id')
  const headingId = uid('opp')
  const parts = []
  const use = (part) => { parts.push(part); return part.el }
  const areas = Array.isArray(ctx.data.areas) ? ctx.data.areas : []
  const what = use(textField(ctx, item, 'what', {
    label: t('minutes.actions.what'), multiline: true, rows: 1, singleLine: true, wide: true, describedBy: headingId, testid: `action-what-${id}`
  }))
  const who = use(choice(ctx, {
    label: t('minutes.actions.who'),
    describedBy: headingId,
    testid: `action-who-${id}`,
    options: () => [{ value: '', text: t('field.choose') }, ...ctx.members.map((m) => ({ value: String(m.id), text: m.name }))],
    read: () => String(item.get('responsibleUserId') || ''),
    write: (value) => ctx.doc.transact(() => item.set('responsibleUserId', value || null), ctx.origin),
    watch: watchKeys(item, ['responsibleUserId'])
  }))
  const due = use(plainField(ctx, item, 'due', { label: t('minutes.actions.due'), type: 'date', describedBy: headingId, testid: `action-due-${id}` }))
  const goal = use(choice(ctx, {
    label: t('minutes.actions.goal'),
    describedBy: headingId,
    testid: `action-goal-${id}`,
    options: () => [{ value: '', text: t('field.choose') }, ...areas.map((a) => ({
      group: a.title,
      options: a.goals.map((g) => ({ value: `${a.key}|${g.id}`, text: [g.label, g.title].filter(Boolean).join(' ') || '–' }))
    }))],
    read: () => (item.get('areaId') && item.get('goalId') ? `${item.get('areaId')}|${item.get('goalId')}` : ''),
    write: (value) => {
      const [areaId, goalId] = value ? value.split('|') : [null, null]
      ctx.doc.transact(() => { item.set('areaId', areaId || null); item.set('goalId', goalId || null) }, ctx.origin)
    },
    watch: watchKeys(item, ['areaId', 'goalId'])
  }))
  const state = h('div', { class: 'item-actions' })
  const renderState = () => {
    const measureId = item.get('measureId')
    if (typeof measureId === 'string' && measureId) {
      const notice = ctx.data.converted === id
        ? h('p', { role: 'status', dataset: { testid: `action-notice-${id}` } }, t('minutes.actions.convertedNow'))
        : null
      state.replaceChildren(notice || '',
        h('p', {}, h('span', { class: 'badge badge-done', dataset: { testid: `action-converted-${id}` } }, t('minutes.actions.converted')), ' ',
          h('a', { href: `/plans/${encodeURIComponent(ctx.data.planId)}#measure-${safeId(measureId)}` }, t('minutes.actions.seeMeasure'))))
    } else if (ctx.writable) {
      state.replaceChildren(convertForm(ctx, id, headingId))
    } else {
      state.replaceChildren()
    }
  }
  const unwatch = watchKey(item, 'measureId', renderState)
  const el = h('article', { class: 'measure action-item', id: `action-${safeId(id)}`, aria: { labelledby: headingId }, dataset: { testid: `action-${id}` } },
    h('h3', { id: headingId }, t('minutes.actions.item', { n: index + 1 })),
    what, h('div', { class: 'field-grid' }, who, due, goal), state)
  return { el, destroy: () => { unwatch(); parts.forEach((p) => p.destroy()) } }
}

/** A plain POST form: the server checks the item and writes the measure (registry.edit). */
function convertForm (ctx, itemId, describedBy) {
  const action = `/plans/${encodeURIComponent(ctx.data.planId)}/meetings/${encodeURIComponent(ctx.data.meetingId)}/actions/${encodeURIComponent(itemId)}/measure`
  const form = h('form', { method: 'post', action },
    h('input', { type: 'hidden', name: 'csrf_token', value: ctx.data.csrfToken }),
    h('button', { type: 'submit', class: 'btn', dataset: { testid: `action-convert-${itemId}` }, aria: { describedby: describedBy } }, t('minutes.actions.toMeasure')))
  submitWhenSaved(form, ctx.zone)
  return form
}

/** What was just typed must reach the server before it reads the minutes (to convert an
 *  action item, to publish): hold the form until the zone says "Lagret", at most 10 s. */
function submitWhenSaved (form, zone) {
  form.addEventListener('submit', (event) => {
    if (!zone.pending && zone.synced) return
    event.preventDefault()
    const started = Date.now()
    const retry = () => {
      if ((!zone.pending && zone.synced) || Date.now() - started > 10000) form.submit()
      else setTimeout(retry, 100)
    }
    retry()
  })
}
