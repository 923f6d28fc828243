// The one way this bundle builds DOM: properties and text only. User data never goes through
// innerHTML; it is set with textContent, input values or Tiptap.

/**
 * h('button', {type: 'button', class: 'x', dataset: {testid: 'y'}, onclick: fn}, 'text', child)
 * Attribute values are strings set with setAttribute; `on*` keys add listeners; `text` sets
 * textContent; `dataset` / `aria` are maps; null/undefined/false values are skipped.
 */
export function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue
    if (key === 'class') el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value
    else if (key === 'text') el.textContent = value
    else if (key === 'dataset') for (const [k, v] of Object.entries(value)) { if (v != null) el.dataset[k] = v }
    else if (key === 'aria') for (const [k, v] of Object.entries(value)) { if (v != null && v !== false) el.setAttribute('aria-' + k, String(v)) }
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value)
    else if (key === 'value') el.value = value
    else if (value === true) el.setAttribute(key, '')
    else el.setAttribute(key, String(value))
  }
  append(el, children)
  return el
}

export function append (el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return el
}

/**
 * Focus what `find()` returns now if it is there, else on the next frame. A new item's view is
 * built by the transaction's own observer, so "now" is the normal case: keys typed right after
 * a "Legg til" button then land in the new field, even on a busy laptop whose frames come late.
 */
export function focusSoon (find) {
  const now = find()
  if (now) now.focus()
  if (now && document.activeElement === now) return
  requestAnimationFrame(() => find()?.focus())
}

let counter = 0
/** A document-unique id for label/aria wiring (never derived from user text). */
export const uid = (prefix = 'f') => `${prefix}-${++counter}`

/** Make a DOM id fragment from an item id (ids are uuids or short ascii keys). */
export const safeId = (value) => String(value).replace(/[^A-Za-z0-9_-]/g, '_')

/**
 * Put `nodes` into `container` in this order, moving only what is out of place: moving a node
 * that holds focus would blur it, so an unchanged order touches nothing.
 */
export function reconcile (container, nodes) {
  let cursor = container.firstChild
  for (const node of nodes) {
    if (node === cursor) {
      cursor = cursor.nextSibling
    } else {
      container.insertBefore(node, cursor)
    }
  }
  while (cursor) {
    const next = cursor.nextSibling
    container.removeChild(cursor)
    cursor = next
  }
}

/** A colour we are willing to put into CSS: only #rgb / #rrggbb (awareness data is remote). */
export const safeColor = (value, fallback = '#2f5d8a') =>
  typeof value === 'string' && /^#(?:[0-9a-fA-F]{3}){1,2}$/.test(value) ? value : fallback

export function initialsOf (name) {
  const parts = String(name || '').replace(/^(Dr\.|Dr)\s+/i, '').trim().split(/\s+/).filter(Boolean)
  if (parts.length === 0) return '?'
  const first = [...parts[0]][0] || ''
  const last = parts.length > 1 ? [...parts[parts.length - 1]][0] || '' : ''
  return (first + last).toUpperCase()
}
