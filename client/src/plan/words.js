// Comments and messages are written by the server for the signed-in person (the comments
// socket is read-only): every change is a JSON POST with the form token, and what the server
// wrote comes back through the zone like anyone else's change. `post` resolves to
// {ok: true, data} or {ok: false, error} with a sentence to show (role="alert").
import { h } from '../dom.js'
import { t } from '../i18n.js'

export async function post (ctx, path, body) {
  let response
  try {
    response = await fetch(`/plans/${encodeURIComponent(ctx.planId)}${path}`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ ...body, csrf_token: ctx.csrf || '' })
    })
  } catch {
    return { ok: false, error: t('comments.error.network') }
  }
  let data = null
  try { data = await response.json() } catch { data = null }
  if (response.ok) return { ok: true, data }
  const reason = (data && typeof data.error === 'string' && data.error) || t('comments.error.bad')
  return { ok: false, error: t('comments.error.send', { reason }) }
}

/** An alert line that stays empty (and hidden) until something goes wrong. */
export function alertLine (testid) {
  const el = h('p', { class: 'error-box', role: 'alert', hidden: true, dataset: { testid } })
  el.show = (text) => { el.textContent = text || ''; el.hidden = !text }
  return el
}

/** The words of a comment or message: its Y.Text (a new one per edit) or a plain value. */
export function textOf (value) {
  return value && typeof value.toString === 'function' && typeof value !== 'string'
    ? value.toString()
    : String(value ?? '')
}
