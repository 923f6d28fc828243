// The content zone: Om meg / Ressurser / Behov (rich text), the plan's period, revision and
// status (`meta`), Andre planer (`otherPlans`) and Samarbeid (`collaboration`).
import * as Y from 'yjs'
import { h, reconcile, focusSoon } from '../dom.js'
import { t } from '../i18n.js'
import { todayOslo } from '../format.js'
import { textField, plainField, selectField, watchKey } from './fields.js'
import { richText } from './richtext.js'
import { newItem, itemsOf, textOf, PLAN_STATUSES } from './items.js'

/** A titled <section> with an h2, an optional comment button and thread. */
export function section (ctx, { id, title, anchorId, testid }) {
  const headingId = `${id}-heading`
  const comments = anchorId ? ctx.comments.anchor(anchorId, headingId) : null
  const body = h('div', { class: 'section-body' })
  const el = h('section', { class: 'card', id, aria: { labelledby: headingId }, dataset: { testid } },
    h('div', { class: 'section-head' }, h('h2', { id: headingId }, title), comments && comments.button),
    body, comments && comments.panel)
  return { el, body, headingId }
}

export function richSection (ctx, zctx, root, title, hint) {
  const s = section(ctx, { id: `sec-${root}`, title, anchorId: root, testid: `section-${root}` })
  if (hint) s.body.append(h('p', { class: 'hint', id: `${root}-hint` }, hint))
  const editor = richText({
    fragment: zctx.doc.getXmlFragment(root),
    provider: zctx.provider,
    user: zctx.user,
    editable: zctx.writable,
    label: title,
    testid: `editor-${root}`,
    placeholder: zctx.writable ? t('rt.placeholder') : t('rt.emptyReadonly')
  })
  if (hint) editor.editor.view.dom.setAttribute('aria-describedby', `${root}-hint`)
  s.body.append(editor.el)
  return s.el
}

export function metaSection (ctx, zctx, extra) {
  const s = section(ctx, { id: 'sec-meta', title: t('meta.heading'), anchorId: 'meta', testid: 'section-meta' })
  const meta = zctx.doc.getMap('meta')
  const d = s.headingId
  const late = h('p', { class: 'badge badge-warn', hidden: true }, t('meta.revisionOverdue'))
  const renderLate = () => {
    const next = meta.get('nextRevision')
    late.hidden = !(typeof next === 'string' && next < todayOslo() && meta.get('status') !== 'avsluttet')
  }
  s.body.append(
    h('div', { class: 'field-grid' },
      plainField(zctx, meta, 'planPeriodStart', { label: t('meta.periodStart'), type: 'date', describedBy: d, testid: 'meta-planPeriodStart' }).el,
      plainField(zctx, meta, 'planPeriodEnd', { label: t('meta.periodEnd'), type: 'date', describedBy: d, testid: 'meta-planPeriodEnd' }).el,
      plainField(zctx, meta, 'nextRevision', { label: t('meta.nextRevision'), type: 'date', describedBy: d, testid: 'meta-nextRevision' }).el,
      selectField(zctx, meta, 'status', { label: t('meta.status'), values: PLAN_STATUSES, prefix: 'planStatus', describedBy: d, testid: 'meta-status' }).el
    ),
    late, extra)
  watchKey(meta, 'nextRevision', renderLate)
  watchKey(meta, 'status', renderLate)
  return s.el
}

const safeHref = (value) => {
  if (typeof value !== 'string') return null
  try {
    const url = new URL(value, location.href)
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null
  } catch { return null }
}

/**
 * A list of simple items (otherPlans, collaboration) edited in place.
 * fields: [{key, label, type: 'text' (Y.Text) | 'plain' | 'url', primary}]
 */
export function listSection (ctx, zctx, { root, title, fields, addLabel, empty, newValues, removedText }) {
  const s = section(ctx, { id: `sec-${root}`, title, anchorId: root, testid: `section-${root}` })
  const array = zctx.doc.getArray(root)
  const list = h('ul', { class: 'simple-list' })
  const emptyNote = h('p', { class: 'muted' }, empty)
  const views = new Map()

  const itemView = (map) => {
    const cleanups = []
    const use = (part) => { cleanups.push(part.destroy); return part.el }
    const id = map.get('id')
    const headingId = `item-${root}-${String(id).replace(/[^A-Za-z0-9_-]/g, '_')}`
    const primary = fields.find((f) => f.primary) || fields[0]
    // A name for the item that screen readers get with each field: its primary field.
    const name = h('span', { id: headingId, class: 'sr-only' })
    const renderName = () => { name.textContent = `${t(`list.${root}.item`)}: ${textOf(map.get(primary.key))}` }
    const primaryValue = map.get(primary.key)
    if (primaryValue instanceof Y.Text) { primaryValue.observe(renderName); cleanups.push(() => primaryValue.unobserve(renderName)) }
    cleanups.push(watchKey(map, primary.key, renderName))
    const controls = fields.map((f) => {
      const opts = { label: f.label, describedBy: headingId, testid: `${root}-${f.key}-${id}` }
      if (f.type === 'text') return use(textField(zctx, map, f.key, opts))
      if (f.type === 'url' && !zctx.writable) {
        const value = h('span', { class: 'field-value' })
        cleanups.push(watchKey(map, f.key, () => {
          const href = safeHref(map.get(f.key))
          value.replaceChildren(href ? h('a', { href, rel: 'noopener noreferrer' }, map.get(f.key)) : '–')
        }))
        return h('div', { class: 'field field-ro' }, h('span', { class: 'field-label' }, f.label), value)
      }
      return use(plainField(zctx, map, f.key, { ...opts, type: f.type === 'url' ? 'url' : 'text' }))
    })
    const comments = ctx.comments.anchor(id, headingId)
    if (comments) cleanups.push(() => ctx.comments.forget(id))
    const actions = h('div', { class: 'item-actions' }, comments && comments.button)
    if (zctx.writable) {
      actions.append(h('button', {
        type: 'button', class: 'btn btn-small btn-quiet btn-remove', aria: { describedby: headingId },
        onclick: () => ctx.removals.remove(zctx.zone, [{ array, map }], removedText(textOf(map.get(primary.key)) || t('item.untitled')))
      }, t('item.remove')))
    }
    const el = h('li', { class: 'simple-item', dataset: { testid: `${root}-${id}` } },
      name, h('div', { class: 'field-grid' }, controls), actions, comments && comments.panel)
    return { map, el, destroy: () => { cleanups.forEach((fn) => fn()); el.remove() } }
  }

  const render = () => {
    const maps = itemsOf(array)
    const seen = new Set()
    for (const map of maps) {
      const id = map.get('id')
      seen.add(id)
      const view = views.get(id)
      if (view && view.map === map) continue
      if (view) view.destroy()
      views.set(id, itemView(map))
    }
    for (const [id, view] of views) if (!seen.has(id)) { view.destroy(); views.delete(id) }
    reconcile(list, maps.map((m) => views.get(m.get('id')).el))
    emptyNote.hidden = maps.length > 0
  }
  array.observe(render)
  render()
  s.body.append(emptyNote, list)
  if (zctx.writable) {
    s.body.append(h('button', {
      type: 'button', class: 'btn btn-add', dataset: { testid: `add-${root}` }, aria: { describedby: s.headingId },
      onclick: () => {
        const item = newItem(newValues())
        ctx.undo.stopCapturing()
        zctx.doc.transact(() => array.push([item]), zctx.origin)
        ctx.undo.stopCapturing()
        focusSoon(() => views.get(item.get('id'))?.el.querySelector('input, textarea, select'))
      }
    }, addLabel))
  }
  return s.el
}

export function otherPlansSection (ctx, zctx) {
  return listSection(ctx, zctx, {
    root: 'otherPlans',
    title: t('otherPlans.heading'),
    addLabel: t('otherPlans.add'),
    empty: t('otherPlans.empty'),
    fields: [
      { key: 'title', label: t('otherPlans.title'), type: 'text', primary: true },
      { key: 'kind', label: t('otherPlans.kind'), type: 'plain' },
      { key: 'holder', label: t('otherPlans.holder'), type: 'plain' },
      { key: 'link', label: t('otherPlans.link'), type: 'url' }
    ],
    newValues: () => ({ kind: '', title: '', holder: '', link: null }),
    removedText: (title) => t('remove.otherPlan', { title })
  })
}

export function collaborationSection (ctx, zctx) {
  return listSection(ctx, zctx, {
    root: 'collaboration',
    title: t('collaboration.heading'),
    addLabel: t('collaboration.add'),
    empty: t('collaboration.empty'),
    fields: [
      { key: 'name', label: t('collaboration.name'), type: 'plain', primary: true },
      { key: 'role', label: t('collaboration.role'), type: 'plain' },
      { key: 'organisation', label: t('collaboration.organisation'), type: 'plain' },
      { key: 'purpose', label: t('collaboration.purpose'), type: 'plain' }
    ],
    newValues: () => ({ name: '', role: '', organisation: '', purpose: '' }),
    removedText: (title) => t('remove.collaboration', { title })
  })
}
