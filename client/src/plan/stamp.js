// "Who changed this last, and when": after any change I make to a goal, measure or
// evaluation (its title, description, fields, or an undo), set its updatedBy = my id and
// updatedAt = now (ISO UTC). Done shortly after, in one transaction with an origin no undo
// manager tracks, so Angre reverts the change and not the bookkeeping.
import { utcNow } from '../format.js'

const STAMP_DELAY_MS = 800

export function stampChanges (zone, roots, meId) {
  const stampOrigin = { stamp: zone.room }
  const dirty = new Set()
  let timer = null
  const flush = () => {
    timer = null
    const items = [...dirty]
    dirty.clear()
    const now = utcNow()
    zone.doc.transact(() => {
      for (const item of items) {
        if (item._item && item._item.deleted) continue
        item.set('updatedBy', String(meId))
        item.set('updatedAt', now)
      }
    }, stampOrigin)
  }
  for (const root of roots) {
    root.observeDeep((events, transaction) => {
      if (!transaction.local || transaction.origin === stampOrigin || transaction.origin === zone.provider) return
      if (zone.persistence && transaction.origin === zone.persistence) return
      for (const event of events) {
        let type = event.target
        if (type === root) continue // items added or removed: they carry their own stamp
        while (type && type.parent !== root) type = type.parent
        if (!type) continue
        // The stamp fields themselves are not a change worth stamping.
        if (type === event.target && event.keysChanged &&
            [...event.keysChanged].every((k) => k === 'updatedBy' || k === 'updatedAt')) continue
        dirty.add(type)
      }
      if (dirty.size && !timer) timer = setTimeout(flush, STAMP_DELAY_MS)
    })
  }
  // Leaving the page: write what is pending now.
  window.addEventListener('pagehide', () => { if (timer) { clearTimeout(timer); flush() } })
}
