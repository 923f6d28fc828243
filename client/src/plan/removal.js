// Removing is one press and is undone with one press ("one wrong press and everything
// disappears" is what people fear): no confirm dialog; a notice with "Angre" appears, keeps
// until closed or replaced, and gets the focus. Restoring puts back copies of the removed
// items (same ids, fields, texts) where they were. Ctrl/Cmd+Z reverts a removal too.
import * as Y from 'yjs'
import { h } from '../dom.js'
import { t } from '../i18n.js'

export class Removals {
  constructor (undoHub) {
    this.undoHub = undoHub
    this.message = h('span', { class: 'toast-text' })
    this.undoButton = h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: 'undo-remove' } }, t('remove.undo'))
    this.closeButton = h('button', { type: 'button', class: 'btn btn-quiet btn-small', onclick: () => this.hide() }, t('remove.close'))
    this.box = h('div', { class: 'toast-box', hidden: true }, this.message, this.undoButton, this.closeButton)
    this.el = h('div', { class: 'toast', role: 'status', 'aria-live': 'polite' }, this.box)
    this.onUndo = null
    this.undoButton.addEventListener('click', () => { if (this.onUndo) this.onUndo() })
  }

  hide () {
    this.box.hidden = true
    this.onUndo = null
    this.message.textContent = ''
  }

  /**
   * Remove `items` ([{array, map}]) from one zone in one transaction; `restored(ids)` is
   * called after an undo (to focus the item again).
   */
  remove (zone, items, text, restored) {
    const saved = items.map(({ array, map }) => ({
      array,
      id: map.get('id'),
      index: array.toArray().indexOf(map),
      copy: map.clone()
    })).filter((s) => s.index >= 0)
    if (saved.length === 0) return
    this.undoHub.stopCapturing()
    zone.doc.transact(() => {
      // Highest index first, per array, so the indexes stay right.
      for (const s of [...saved].sort((a, b) => b.index - a.index)) {
        const index = s.array.toArray().findIndex((m) => m instanceof Y.Map && m.get('id') === s.id)
        if (index >= 0) s.array.delete(index, 1)
      }
    }, zone.origin)
    this.undoHub.stopCapturing()

    this.message.textContent = text
    this.box.hidden = false
    this.onUndo = () => {
      zone.doc.transact(() => {
        for (const s of [...saved].sort((a, b) => a.index - b.index)) {
          const present = s.array.toArray().some((m) => m instanceof Y.Map && m.get('id') === s.id)
          if (present) continue // someone (or Ctrl+Z) already brought it back
          // The copy is unintegrated and used once: the notice closes after this.
          s.array.insert(Math.min(s.index, s.array.length), [s.copy])
        }
      }, zone.origin)
      this.undoHub.stopCapturing()
      this.hide()
      if (restored) requestAnimationFrame(() => restored(saved.map((s) => s.id)))
    }
    this.undoButton.focus()
  }
}
