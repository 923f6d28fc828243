// Undo/redo for the structured fields (titles, dates, statuses, added and removed items): one
// Y.UndoManager per zone, tracking only transactions made with that zone's local origin, so
// it reverts MY changes, never someone else's. The Angre/Gjør om buttons and Ctrl/Cmd+Z,
// Ctrl/Cmd+Shift+Z, Ctrl+Y act on whichever zone holds my most recent change. Inside a
// rich-text editor the editor's own (collaboration) undo handles the keys.
import * as Y from 'yjs'
import { h } from '../dom.js'
import { t } from '../i18n.js'

/** The origin of every transaction this tab makes on a zone's structured fields. */
export class LocalOrigin {
  constructor (room) { this.room = room }
}

let tick = 0

export class UndoHub {
  constructor () {
    this.managers = []
    this.listeners = new Set()
    this.undoButton = h('button', {
      type: 'button', class: 'btn btn-quiet', disabled: true, dataset: { testid: 'undo' },
      aria: { keyshortcuts: 'Control+Z Meta+Z' }, onclick: () => this.undo()
    }, t('undo.undo'))
    this.redoButton = h('button', {
      type: 'button', class: 'btn btn-quiet', disabled: true, dataset: { testid: 'redo' },
      aria: { keyshortcuts: 'Control+Shift+Z Meta+Shift+Z Control+Y' }, onclick: () => this.redo()
    }, t('undo.redo'))
    this.el = h('div', { class: 'undo-buttons', role: 'group', aria: { label: t('undo.group') } }, this.undoButton, this.redoButton)
    document.addEventListener('keydown', (event) => this.onKey(event))
  }

  /** Track `scope` (root types) of a zone; returns the manager. */
  add (zone, scope, origin) {
    const manager = new Y.UndoManager(scope, { trackedOrigins: new Set([origin]), captureTimeout: 600 })
    const stamp = ({ stackItem }) => { stackItem.meta.set('tick', ++tick) }
    manager.on('stack-item-added', stamp)
    manager.on('stack-item-updated', stamp)
    for (const name of ['stack-item-added', 'stack-item-popped', 'stack-cleared', 'stack-item-updated']) {
      manager.on(name, () => this.refresh())
    }
    // A new change silently empties the redo stack: refresh after every transaction of ours.
    zone.doc.on('afterTransaction', (tr) => { if (tr.origin === origin) queueMicrotask(() => this.refresh()) })
    this.managers.push(manager)
    return manager
  }

  latest (stackName) {
    let best = null
    let bestTick = -1
    for (const manager of this.managers) {
      const stack = manager[stackName]
      if (stack.length === 0) continue
      const top = stack[stack.length - 1].meta.get('tick') ?? 0
      if (top > bestTick) { best = manager; bestTick = top }
    }
    return best
  }

  undo () {
    const manager = this.latest('undoStack')
    if (manager) manager.undo()
    this.refresh()
  }

  redo () {
    const manager = this.latest('redoStack')
    if (manager) manager.redo()
    this.refresh()
  }

  /** Start a new undo step (so the next change is not merged into the previous one). */
  stopCapturing () { for (const m of this.managers) m.stopCapturing() }

  refresh () {
    this.undoButton.disabled = !this.latest('undoStack')
    this.redoButton.disabled = !this.latest('redoStack')
  }

  onKey (event) {
    if (!(event.ctrlKey || event.metaKey) || event.altKey) return
    const key = event.key.toLowerCase()
    const isUndo = key === 'z' && !event.shiftKey
    const isRedo = (key === 'z' && event.shiftKey) || (key === 'y' && !event.shiftKey && event.ctrlKey)
    if (!isUndo && !isRedo) return
    const target = event.target
    // Rich text: Tiptap's collaboration undo (own changes in that editor only).
    if (target && target.closest && target.closest('.ProseMirror')) return
    // Inputs not bound to the plan (comment drafts, log-in) keep the browser's own undo.
    if (target && target.closest && target.closest('[data-native-undo]')) return
    event.preventDefault()
    if (isUndo) this.undo()
    else this.redo()
  }
}
