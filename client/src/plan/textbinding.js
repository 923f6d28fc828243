// A plain <input>/<textarea> bound to a Y.Text. Local input becomes the minimal edit (common
// prefix and suffix, in UTF-16 code units as both JS strings and Yjs count), applied as one
// delete + insert in one transaction; a remote change rewrites the value and keeps the caret
// where it was relative to the text around it.

const isHigh = (code) => code >= 0xd800 && code <= 0xdbff
const isLow = (code) => code >= 0xdc00 && code <= 0xdfff

/** {index, remove, insert} turning `before` into `after`, never splitting a surrogate pair. */
export function diff (before, after) {
  const max = Math.min(before.length, after.length)
  let start = 0
  while (start < max && before.charCodeAt(start) === after.charCodeAt(start)) start++
  if (start > 0 && start < before.length && isHigh(before.charCodeAt(start - 1)) && isLow(before.charCodeAt(start))) start--
  let end = 0
  while (end < max - start && before.charCodeAt(before.length - 1 - end) === after.charCodeAt(after.length - 1 - end)) end++
  if (end > 0 && isLow(before.charCodeAt(before.length - end)) && before.length - end - 1 >= start &&
      isHigh(before.charCodeAt(before.length - end - 1))) end--
  return { index: start, remove: before.length - start - end, insert: after.slice(start, after.length - end) }
}

/** Move a position through a Yjs text delta (remote change). */
export function transformPosition (pos, delta) {
  let index = 0 // position in the old text
  let shift = 0
  for (const op of delta) {
    if (index > pos) break
    if (op.retain !== undefined) index += op.retain
    else if (op.insert !== undefined) {
      const len = typeof op.insert === 'string' ? op.insert.length : 1
      if (index <= pos) shift += len
    } else if (op.delete !== undefined) {
      shift -= Math.min(op.delete, Math.max(0, pos - index))
      index += op.delete
    }
  }
  return Math.max(0, pos + shift)
}

/**
 * Bind `el` (input/textarea) to `ytext`. `origin` is the zone's local origin (its UndoManager
 * tracks it). `onLocalChange` runs inside the same transaction (e.g. nothing, or bookkeeping).
 * Returns a function that unbinds.
 */
export function bindText (el, ytext, origin) {
  el.value = ytext.toString()
  let applying = false

  const onInput = () => {
    const before = ytext.toString()
    const after = el.value
    if (before === after) return
    const { index, remove, insert } = diff(before, after)
    applying = true
    try {
      ytext.doc.transact(() => {
        if (remove > 0) ytext.delete(index, remove)
        if (insert) ytext.insert(index, insert)
      }, origin)
    } finally {
      applying = false
    }
  }

  const observer = (event) => {
    if (applying) return
    const value = ytext.toString()
    if (el.value === value) return
    const focused = document.activeElement === el
    const { selectionStart, selectionEnd, selectionDirection } = el
    el.value = value
    if (focused && selectionStart !== null) {
      const start = transformPosition(selectionStart, event.delta)
      const end = transformPosition(selectionEnd, event.delta)
      el.setSelectionRange(Math.min(start, value.length), Math.min(end, value.length), selectionDirection || 'none')
    }
  }

  el.addEventListener('input', onInput)
  ytext.observe(observer)
  return () => {
    el.removeEventListener('input', onInput)
    ytext.unobserve(observer)
  }
}

/** A read-only view of a Y.Text: textContent kept live. */
export function bindTextContent (el, ytext, fallback = '') {
  const render = () => { el.textContent = ytext.toString() || fallback }
  render()
  ytext.observe(render)
  return () => ytext.unobserve(render)
}
