// Field widgets for one item (a Y.Map): each renders an editable control in a writable zone
// and plain text in a read-only one, stays live with remote changes, and writes with the
// zone's local origin (so Angre reverts it). Every control has a visible <label>, and
// aria-describedby points at the item's heading (the goal or measure it belongs to).
import * as Y from 'yjs'
import { h, uid } from '../dom.js'
import { t, tEnum } from '../i18n.js'
import { formatDate, parseDate } from '../format.js'
import { bindText, bindTextContent } from './textbinding.js'

const PLAIN_DEBOUNCE_MS = 400

/** Call render() now and whenever `key` of `ymap` is set or removed. Returns an unsubscriber. */
export function watchKey (ymap, key, render) {
  const observer = (event) => { if (event.keysChanged.has(key)) render() }
  ymap.observe(observer)
  render()
  return () => ymap.unobserve(observer)
}

function fieldShell (label, control, { id, describedBy, wide, hideLabel } = {}) {
  if (describedBy && control.setAttribute) control.setAttribute('aria-describedby', describedBy)
  return h('div', { class: ['field', wide && 'field-wide'] },
    h('label', { class: ['field-label', hideLabel && 'sr-only'], for: id }, label), control)
}

function readonlyShell (label, value, { wide, hideLabel } = {}) {
  return h('div', { class: ['field', 'field-ro', wide && 'field-wide'] },
    h('span', { class: ['field-label', hideLabel && 'sr-only'] }, label), value)
}

/**
 * A Y.Text field (title, result, …). opts: label, multiline, testid, describedBy, wide,
 * hideLabel, placeholder, ariaLabel. Returns {el, control, destroy}.
 */
export function textField (ctx, ymap, key, opts) {
  const id = uid('txt')
  let unbind = () => {}
  let control
  if (ctx.writable) {
    control = h(opts.multiline ? 'textarea' : 'input', {
      id,
      class: ['input', opts.multiline ? 'input-multi' : 'input-line', opts.className],
      ...(opts.multiline ? { rows: opts.rows || 2 } : { type: 'text' }),
      placeholder: opts.placeholder,
      'aria-label': opts.ariaLabel,
      autocomplete: 'off',
      dataset: { testid: opts.testid }
    })
    // A title is one line: Enter must not add a line break to it.
    if (opts.singleLine) control.addEventListener('keydown', (event) => { if (event.key === 'Enter') event.preventDefault() })
    const render = () => {
      unbind()
      const value = ymap.get(key)
      if (value instanceof Y.Text) {
        unbind = bindText(control, value, ctx.origin)
      } else {
        control.value = typeof value === 'string' ? value : ''
        // No Y.Text yet (older or foreign writer): create it on the first key press.
        const create = () => {
          const current = ymap.get(key)
          if (current instanceof Y.Text) return
          ctx.doc.transact(() => { ymap.set(key, new Y.Text(control.value)) }, ctx.origin)
        }
        control.addEventListener('input', create, { once: true })
        unbind = () => control.removeEventListener('input', create)
      }
    }
    const unwatch = watchKey(ymap, key, render)
    if (opts.bare && opts.describedBy) control.setAttribute('aria-describedby', opts.describedBy)
    const el = opts.bare ? control : fieldShell(opts.label, control, { id, ...opts })
    return { el, control, destroy: () => { unwatch(); unbind() } }
  }
  control = h('span', { class: ['field-value', opts.className], dataset: { testid: opts.testid } })
  const render = () => {
    unbind()
    const value = ymap.get(key)
    if (value instanceof Y.Text) unbind = bindTextContent(control, value, opts.emptyText ?? '–')
    else { control.textContent = (typeof value === 'string' && value) || (opts.emptyText ?? '–'); unbind = () => {} }
  }
  const unwatch = watchKey(ymap, key, render)
  const el = opts.bare ? control : readonlyShell(opts.label, control, opts)
  return { el, control, destroy: () => { unwatch(); unbind() } }
}

/** A plain string / date / url value in the map. opts: label, type ('text'|'date'|'url'). */
export function plainField (ctx, ymap, key, opts) {
  const type = opts.type || 'text'
  if (!ctx.writable) {
    const value = h('span', { class: 'field-value', dataset: { testid: opts.testid } })
    const unwatch = watchKey(ymap, key, () => {
      const v = ymap.get(key)
      value.textContent = (type === 'date' ? formatDate(v) : (typeof v === 'string' ? v : '')) || (opts.emptyText ?? '–')
    })
    return { el: readonlyShell(opts.label, value, opts), destroy: unwatch }
  }
  const id = uid('val')
  const isDate = type === 'date'
  // Dates are typed as dd.mm.yyyy in every language (a native date input follows the
  // browser's locale instead); stored as YYYY-MM-DD.
  const control = h('input', {
    id, type: isDate ? 'text' : type, class: ['input', isDate ? 'input-date' : 'input-line'],
    autocomplete: 'off', placeholder: isDate ? t('field.datePlaceholder') : opts.placeholder,
    dataset: { testid: opts.testid }
  })
  const errorId = uid('err')
  const error = isDate ? h('p', { class: 'field-error', id: errorId, hidden: true }, t('field.dateError')) : null
  const shown = (v) => (isDate ? formatDate(v) : (typeof v === 'string' ? v : ''))
  let timer = null
  let dirty = false
  const flush = () => {
    clearTimeout(timer)
    timer = null
    if (!dirty) return
    let value = control.value
    if (isDate) {
      const parsed = parseDate(value)
      const bad = parsed === null
      if (bad) control.setAttribute('aria-invalid', 'true')
      else control.removeAttribute('aria-invalid')
      error.hidden = !bad
      const described = [opts.describedBy, bad ? errorId : null].filter(Boolean).join(' ')
      if (described) control.setAttribute('aria-describedby', described)
      if (bad) return // keep what they typed, and say what we expect; nothing is written
      value = parsed || null
    } else if (type === 'url') value = value || null
    dirty = false
    if ((ymap.get(key) ?? null) === value || (type === 'text' && (ymap.get(key) ?? '') === value)) return
    ctx.doc.transact(() => ymap.set(key, value), ctx.origin)
  }
  control.addEventListener('input', () => {
    dirty = true
    clearTimeout(timer)
    if (!isDate) timer = setTimeout(flush, PLAIN_DEBOUNCE_MS) // a date is written when complete
  })
  control.addEventListener('change', flush)
  control.addEventListener('blur', flush)
  control.addEventListener('keydown', (event) => { if (event.key === 'Enter' && control.tagName === 'INPUT') flush() })
  const unwatch = watchKey(ymap, key, () => {
    if (dirty) return // my newer, not yet written value wins on screen; it is written shortly
    const text = shown(ymap.get(key))
    if (control.value !== text) control.value = text
  })
  const el = fieldShell(opts.label, control, { id, ...opts })
  if (error) el.append(error)
  return { el, control, destroy: () => { flush(); unwatch() } }
}

/** An enumeration (status, attainment): a <select> with the words, the stored value ASCII. */
export function selectField (ctx, ymap, key, opts) {
  const { values, prefix } = opts
  if (!ctx.writable) {
    const value = h('span', { class: ['field-value', 'badge'], dataset: { testid: opts.testid } })
    const unwatch = watchKey(ymap, key, () => {
      const v = ymap.get(key)
      value.textContent = tEnum(prefix, v) || '–'
      value.dataset.value = v ?? ''
    })
    return { el: readonlyShell(opts.label, value, opts), destroy: unwatch }
  }
  const id = uid('sel')
  const control = h('select', { id, class: 'input input-select', dataset: { testid: opts.testid } })
  const render = () => {
    const current = ymap.get(key) ?? ''
    const options = [...values]
    if (current && !options.includes(current)) options.push(current) // a newer bundle's value: keep it
    control.replaceChildren(
      ...(opts.allowEmpty || !current ? [h('option', { value: '' }, t('field.choose'))] : []),
      ...options.map((v) => h('option', { value: v }, tEnum(prefix, v)))
    )
    control.value = current
    control.dataset.value = current
  }
  control.addEventListener('change', () => {
    const value = control.value || null
    ctx.doc.transact(() => ymap.set(key, value), ctx.origin)
  })
  const unwatch = watchKey(ymap, key, render)
  return { el: fieldShell(opts.label, control, { id, ...opts }), control, destroy: unwatch }
}

/** `responsible`: a Y.Array of user ids, chosen among the members with checkboxes. */
export function responsibleField (ctx, ymap, key, opts) {
  const nameOf = (id) => (ctx.membersById.get(String(id)) || {}).name || t('member.unknown')
  const summaryText = h('span', { class: 'field-value' })
  let unobserveArray = () => {}
  const list = () => {
    const value = ymap.get(key)
    return value instanceof Y.Array ? value.toArray().map(String) : []
  }
  const renderSummary = () => {
    const ids = list()
    summaryText.textContent = ids.length ? ids.map(nameOf).join(', ') : '–'
  }
  if (!ctx.writable) {
    const unwatch = watchKey(ymap, key, () => {
      unobserveArray()
      const arr = ymap.get(key)
      if (arr instanceof Y.Array) { arr.observe(renderSummary); unobserveArray = () => arr.unobserve(renderSummary) }
      renderSummary()
    })
    return { el: readonlyShell(opts.label, summaryText, opts), destroy: () => { unwatch(); unobserveArray() } }
  }
  const boxes = h('div', { class: 'checks' })
  const legendId = uid('resp')
  const renderBoxes = () => {
    const chosen = new Set(list())
    const members = [...ctx.members]
    for (const id of chosen) if (!ctx.membersById.has(id)) members.push({ id, name: nameOf(id), role: '' })
    boxes.replaceChildren(...members.map((m) => {
      const id = uid('chk')
      const box = h('input', { type: 'checkbox', id, value: String(m.id) })
      box.checked = chosen.has(String(m.id))
      box.addEventListener('change', () => toggle(String(m.id), box.checked))
      return h('div', { class: 'check' }, box, h('label', { for: id }, m.name))
    }))
  }
  const toggle = (userId, on) => {
    ctx.doc.transact(() => {
      let arr = ymap.get(key)
      if (!(arr instanceof Y.Array)) { arr = new Y.Array(); ymap.set(key, arr) }
      const ids = arr.toArray().map(String)
      if (on && !ids.includes(userId)) arr.push([userId])
      if (!on) for (let i = ids.length - 1; i >= 0; i--) if (ids[i] === userId) arr.delete(i, 1)
    }, ctx.origin)
  }
  const render = () => { renderSummary(); if (details.open) renderBoxes() }
  const details = h('details', { class: 'field field-wide responsible', dataset: { testid: opts.testid } },
    h('summary', { aria: { describedby: opts.describedBy } },
      h('span', { class: 'field-label', id: legendId }, opts.label), ' ', summaryText),
    h('fieldset', { class: 'checks-set' }, h('legend', { class: 'sr-only' }, opts.label), boxes))
  details.addEventListener('toggle', () => { if (details.open) renderBoxes() })
  const unwatch = watchKey(ymap, key, () => {
    unobserveArray()
    const arr = ymap.get(key)
    if (arr instanceof Y.Array) { arr.observe(render); unobserveArray = () => arr.unobserve(render) }
    render()
  })
  return { el: details, destroy: () => { unwatch(); unobserveArray() } }
}
