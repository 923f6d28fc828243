// "Publiserte referater" on the plan page: when the koordinator publishes (or the planeier
// approves) minutes, the /events socket says so with ids only; this fetches the section's
// fresh HTML from the server (which checks access again) and announces it politely.
import { t } from '../i18n.js'

export function watchPublished (planId) {
  const section = document.getElementById('plan-published')
  const body = document.getElementById('published-body')
  const announce = document.getElementById('published-announce')
  if (!section || !body) return
  let refreshes = 0
  const refresh = async (event, message) => {
    if (!event.detail || event.detail.planId !== planId) return
    let response
    try {
      response = await fetch(`/plans/${encodeURIComponent(planId)}/published-minutes`, {
        credentials: 'same-origin',
        headers: { accept: 'text/html' }
      })
    } catch {
      return // offline: the next event or page load brings it
    }
    if (!response.ok) return
    body.innerHTML = await response.text()
    refreshes += 1
    section.dataset.refreshed = String(refreshes)
    if (announce && message) announce.textContent = message
  }
  window.addEventListener('samplan:minutes_published', (event) => refresh(event, t('published.announce')))
  window.addEventListener('samplan:minutes_approved', (event) => refresh(event, ''))
}
