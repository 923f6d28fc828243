// The connection/save state, always visible, in a polite live region (role="status").
// #plan-app gets data-connection ("connected" | "connecting" | "offline"), data-synced and
// data-saved, updated at once; the visible words change calmly so a screen reader is not
// told "saving" on every key press.
import { h } from '../dom.js'
import { t } from '../i18n.js'

const OFFLINE_AFTER_MS = 5000 // a reconnect that takes longer than this is shown as offline
const SAVING_AFTER_MS = 1500 // unsaved for longer than this: say so
const RELOAD_WAIT_MS = 10000 // after a refused change: how long the other zones get to save
const REFUSAL_SHOWN_MS = 4000 // and how long the alert stays, at least, to be read

export class ConnectionStatus {
  constructor (root, zones) {
    this.root = root
    this.zones = zones
    this.el = h('p', { class: 'status', role: 'status', 'aria-live': 'polite', dataset: { testid: 'connection-status' } })
    this.text = ''
    this.disconnectedSince = null
    this.unsavedSince = null
    this.everSynced = false
    this.timer = null
    window.addEventListener('online', () => this.update())
    window.addEventListener('offline', () => this.update())
    window.addEventListener('beforeunload', (event) => {
      // Never lose text silently: warn if something typed has not reached the server.
      if (this.zones.some((z) => z.writable && z.pending) && !this.anyPersisted()) {
        event.preventDefault()
        event.returnValue = ''
      }
    })
    this.update()
  }

  /** The server refused a change of ours (4422: it did not fit the plan's shape) and sent
   * everyone else back to the stored state. Say so (an alert, read at once), then reload the
   * page, which loads that zone from the server: after a few seconds to read it, once the
   * other zones have saved what was typed in them (or after a while). */
  reloadAfterRefusal (zone) {
    if (this.refusalShown) return
    this.refusalShown = Date.now()
    const alert = h('p', { class: 'error-box', role: 'alert', dataset: { testid: 'shape-refused' } }, t('status.shapeRefused'))
    this.el.after(alert)
    this.reloadWhenSaved = async () => {
      const shown = Date.now() - this.refusalShown
      const othersSaved = this.zones.every((z) => z === zone || z.saved || z.closedForGood)
      if (shown < REFUSAL_SHOWN_MS || (!othersSaved && shown < RELOAD_WAIT_MS)) return
      this.reloadWhenSaved = null
      await zone.dropped
      location.reload()
    }
  }

  anyPersisted () { return this.zones.every((z) => z.persistence) }

  update () {
    const now = Date.now()
    const zones = this.zones
    const allConnected = zones.every((z) => z.connected)
    const allSynced = zones.every((z) => z.synced)
    const allSaved = zones.every((z) => z.saved)
    const closed = zones.find((z) => z.closedForGood)
    const refused = zones.find((z) => z.writeRefused)
    const shapeRefused = zones.find((z) => z.shapeRefused)
    if (shapeRefused) this.reloadAfterRefusal(shapeRefused)
    if (allSynced) this.everSynced = true

    if (allConnected) this.disconnectedSince = null
    else if (this.disconnectedSince === null) this.disconnectedSince = now
    if (allSaved) this.unsavedSince = null
    else if (this.unsavedSince === null) this.unsavedSince = now

    // The browser knowing it has no network beats a socket that has not noticed yet.
    let connection
    if (navigator.onLine === false || closed) connection = 'offline'
    else if (allConnected) connection = 'connected'
    else if (now - this.disconnectedSince >= OFFLINE_AFTER_MS) connection = 'offline'
    else connection = 'connecting'

    this.root.dataset.connection = connection
    this.root.dataset.synced = String(allSynced)
    this.root.dataset.saved = String(allSaved)

    let key
    if (shapeRefused) key = 'status.reloading'
    else if (closed) key = closed.closedForGood.code === 4401 ? 'status.loggedOut' : 'status.closed'
    else if (refused) key = 'status.readOnly'
    else if (connection === 'offline') key = 'status.offline'
    else if (connection === 'connecting') key = this.everSynced ? 'status.reconnecting' : 'status.connecting'
    else if (!this.everSynced) key = 'status.loading'
    else if (!allSaved && now - this.unsavedSince >= SAVING_AFTER_MS) key = 'status.saving'
    else if (allSaved) key = 'status.saved'
    else key = this.text || 'status.saved' // briefly unsaved: keep the calm words
    if (key !== this.text) {
      this.text = key
      this.el.textContent = t(key)
      this.el.dataset.state = key.slice('status.'.length)
    }

    if (this.reloadWhenSaved) this.reloadWhenSaved()

    // Re-check when a threshold may pass without any event.
    clearTimeout(this.timer)
    if (!allConnected || !allSaved || connection !== 'connected' || shapeRefused) this.timer = setTimeout(() => this.update(), 500)
  }
}
