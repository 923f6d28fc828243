// The log-in session, seen from the page: a warning some minutes before an idle session ends
// (with "Continue", which starts its idle time again), and a notice once it has ended (log-out
// in another tab, idle expiry: the server closes every socket with 4401).
//
// Nothing typed is lost when a session ends: the zones keep their documents in this tab (and
// in IndexedDB on the person's own device). Logging in again in another tab brings the session
// back; this page notices, and its sockets reconnect and send what was typed meanwhile.
//
// Window events: `samplan:session-lost` (a socket was closed with 4401) makes this check at
// once; `samplan:session-back` tells the sockets to reconnect.
import { h } from './dom.js'
import { t } from './i18n.js'

const RECHECK_MS = 5000 // while warning or logged out: how often to ask again
const OFFLINE_RETRY_MS = 30000

export function setupSession () {
  const userId = document.body.dataset.user
  const main = document.getElementById('main')
  if (!userId || !main) return null
  const csrfInput = document.querySelector('form.logout-form input[name="csrf_token"]')

  const text = h('p', { class: 'session-text' })
  const continueButton = h('button', { type: 'button', class: 'btn', dataset: { testid: 'session-continue' }, onclick: () => refresh() }, t('session.continue'))
  const loginLink = h('a', { href: '/login', target: '_blank', rel: 'noopener', class: 'btn', dataset: { testid: 'session-login' } }, t('session.login'))
  const box = h('div', { class: 'error-box session-notice', role: 'alert', dataset: { testid: 'session-notice' }, hidden: true }, text, continueButton, loginLink)
  main.prepend(box)

  let state = 'ok' // 'ok' | 'warning' | 'ended'
  let timer = null

  // Leaving "ended" (a log-in in another tab) brings the sockets back, whether the new
  // session is fresh ("ok") or already in its warning window.
  const enter = (next) => {
    const wasEnded = state === 'ended'
    state = next
    document.body.dataset.session = next
    if (wasEnded && next !== 'ended') window.dispatchEvent(new CustomEvent('samplan:session-back'))
  }

  const show = (next, message) => {
    enter(next)
    text.textContent = message
    continueButton.hidden = next !== 'warning'
    loginLink.hidden = next !== 'ended'
    box.hidden = false
  }

  const hide = () => {
    enter('ok')
    box.hidden = true
  }

  const later = (ms) => {
    clearTimeout(timer)
    timer = setTimeout(check, Math.max(ms, 1000))
  }

  // undefined: we cannot tell (offline, server away); null: the session has ended.
  const ask = async (init) => {
    try {
      const response = await fetch('/session', { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' }, ...init })
      if (response.status === 401) return null
      if (!response.ok) return undefined
      return await response.json()
    } catch {
      return undefined
    }
  }

  const apply = (session) => {
    if (session === undefined) return later(OFFLINE_RETRY_MS)
    // Ended, or someone else logged in in another tab: this page's person is logged out.
    if (session === null || String(session.userId) !== userId) {
      if (state !== 'ended') show('ended', t('session.ended'))
      return later(RECHECK_MS)
    }
    const left = Number(session.secondsLeft) || 0
    const warn = Number(session.warnSeconds) || 0
    if (left > warn) {
      if (state !== 'ok') hide()
      return later((left - warn) * 1000)
    }
    show('warning', t('session.warning', { minutes: Math.max(1, Math.ceil(left / 60)) }))
    // Typing on a socket extends the session on the server: ask again before it would end.
    later(Math.min(RECHECK_MS, left * 1000))
  }

  async function check () {
    apply(await ask())
  }

  async function refresh () {
    const body = new URLSearchParams({ csrf_token: csrfInput ? csrfInput.value : '' })
    const session = await ask({ method: 'POST', body })
    apply(session)
    if (state === 'ok') continueButton.blur()
  }

  window.addEventListener('samplan:session-lost', () => { if (state !== 'ended') check() })
  // Back from sleep or another tab: timers may have been held up.
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') check() })
  check()
  return { check }
}
