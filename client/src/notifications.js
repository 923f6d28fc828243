// The header's notification bell: the unread count, fetched when the page opens (and when
// the live-events socket reconnects, in case something arrived meanwhile), then kept up to
// date from `notification` events. Counts only: the list itself is on /notifications.
export function setupBell () {
  const badge = document.querySelector('[data-notification-count]')
  if (!badge) return
  const number = badge.querySelector('[data-count]')
  const show = (count) => {
    const n = Number(count) || 0
    number.textContent = String(n)
    badge.hidden = n === 0
    badge.dataset.unread = String(n)
  }
  const fetchCount = () => {
    fetch('/notifications/unread', { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then((response) => response.ok ? response.json() : null)
      .then((data) => { if (data && typeof data.unread === 'number') show(data.unread) })
      .catch(() => {})
  }
  window.addEventListener('samplan:notification', (event) => {
    if (event.detail && typeof event.detail.unread === 'number') show(event.detail.unread)
  })
  window.addEventListener('samplan:events-open', fetchCount)
  fetchCount()
}
