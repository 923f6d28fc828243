// The logged-in user's live events (/events): one socket per page, reconnecting with backoff.
// Each event is re-dispatched on `window` as a `samplan:<type>` CustomEvent, so a part of the
// page listens without knowing about the socket. Events carry ids and counts, never content.
const MAX_DELAY_MS = 30000

export function connectEvents () {
  if (!document.body.dataset.user) return null
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/events`
  let delay = 500
  let socket = null
  const open = () => {
    socket = new WebSocket(url)
    socket.addEventListener('open', () => {
      delay = 500
      document.body.dataset.events = 'open'
      window.dispatchEvent(new CustomEvent('samplan:events-open'))
    })
    socket.addEventListener('message', (message) => {
      let event
      try { event = JSON.parse(message.data) } catch { return }
      if (event && typeof event.type === 'string') {
        window.dispatchEvent(new CustomEvent(`samplan:${event.type}`, { detail: event }))
      }
    })
    socket.addEventListener('close', (close) => {
      document.body.dataset.events = 'closed'
      if (close.code === 4401) { // logged out: client/src/session.js says so, and says when it is back
        window.dispatchEvent(new CustomEvent('samplan:session-lost'))
        window.addEventListener('samplan:session-back', () => { delay = 500; open() }, { once: true })
        return
      }
      setTimeout(open, delay)
      delay = Math.min(delay * 2, MAX_DELAY_MS)
    })
  }
  open()
  return { close: () => socket && socket.close() }
}
