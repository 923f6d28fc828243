// The plan's closed message thread (comments zone, root `messages`), for every member who can
// read the comments zone. Collapsed at first with the count of unread messages; opening it
// (or following a notification's link to a message) marks this plan's messages read on the
// server, and so does a new message arriving while it is open. Sent messages reach everyone
// through the zone; the server notices them and notifies the other members.
import * as Y from 'yjs'
import { h, reconcile, safeId } from '../dom.js'
import { t } from '../i18n.js'
import { formatDateTime, utcNow } from '../format.js'

export class Messages {
  constructor (zone, ctx, { planId, csrf, unread }) {
    this.zone = zone
    this.ctx = ctx
    this.planId = planId
    this.csrf = csrf
    this.unread = Number(unread) || 0
    this.items = new Map()
    this.array = zone.doc.getArray('messages')
    this.build()
    this.array.observeDeep(() => this.onChange())
    this.render()
    const hash = decodeURIComponent(location.hash || '')
    if (hash === '#messages' || hash.startsWith('#message-')) this.setOpen(true)
  }

  build () {
    const headingId = 'messages-heading'
    this.badge = h('span', { class: 'badge', dataset: { testid: 'messages-unread' } })
    this.toggle = h('button', {
      type: 'button', class: 'btn btn-small', 'aria-expanded': 'false', 'aria-controls': 'messages-panel',
      dataset: { testid: 'messages-toggle' }, onclick: () => this.setOpen(this.panel.hidden)
    })
    this.list = h('ol', { class: 'thread-list message-list', aria: { label: t('messages.list') }, dataset: { testid: 'message-list' } })
    this.empty = h('p', { class: 'muted' }, t('messages.none'))
    this.panel = h('div', { id: 'messages-panel', hidden: true }, this.list, this.empty)
    if (this.zone.writable) {
      this.input = h('textarea', { id: 'message-input', class: 'input input-multi', rows: 3, 'data-native-undo': true, dataset: { testid: 'message-input' } })
      const submit = h('button', { type: 'button', class: 'btn', dataset: { testid: 'message-send' }, onclick: () => this.send() }, t('messages.send'))
      this.input.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { event.preventDefault(); this.send() }
      })
      this.panel.append(h('div', { class: 'thread-new' },
        h('label', { for: 'message-input', class: 'field-label' }, t('messages.new')), this.input,
        h('div', { class: 'row' }, submit, h('span', { class: 'hint' }, t('messages.hint')))))
    }
    this.el = h('section', { class: 'card', id: 'messages', aria: { labelledby: headingId }, dataset: { testid: 'section-messages' } },
      h('div', { class: 'section-head' }, h('h2', { id: headingId }, t('messages.heading'), ' ', this.badge), this.toggle),
      h('p', { class: 'hint' }, t('messages.intro')), this.panel)
  }

  get open () { return !this.panel.hidden }

  setOpen (open) {
    this.panel.hidden = !open
    this.toggle.setAttribute('aria-expanded', String(open))
    this.toggle.textContent = open ? t('messages.hide') : t('messages.show')
    if (open) {
      this.render()
      this.markRead()
      const target = location.hash.startsWith('#message-') ? document.getElementById(location.hash.slice(1)) : null
      if (target) target.scrollIntoView({ block: 'center' })
    }
  }

  send () {
    const text = this.input.value.trim()
    if (!text) { this.input.focus(); return }
    const { me } = this.ctx
    this.zone.doc.transact(() => {
      const item = new Y.Map()
      item.set('id', crypto.randomUUID())
      item.set('authorId', String(me.id))
      item.set('authorName', me.name)
      item.set('text', new Y.Text(text))
      item.set('createdAt', utcNow())
      this.array.push([item])
    }, this.zone.origin)
    this.input.value = ''
    this.input.focus()
  }

  onChange () {
    this.render()
    if (this.open) {
      clearTimeout(this.readTimer)
      this.readTimer = setTimeout(() => this.markRead(), 1500) // after the server noticed it
    }
  }

  markRead () {
    const body = new URLSearchParams({ csrf_token: this.csrf || '' })
    fetch(`/plans/${encodeURIComponent(this.planId)}/messages/read`, { method: 'POST', body, credentials: 'same-origin' })
      .then((response) => { if (response.ok) { this.unread = 0; this.renderBadge() } })
      .catch(() => {})
  }

  renderBadge () {
    this.badge.textContent = this.unread ? t('messages.unread', { n: this.unread }) : ''
    this.badge.hidden = !this.unread
  }

  render () {
    if (!this.toggle.textContent) this.toggle.textContent = t('messages.show')
    this.renderBadge()
    if (!this.open) return
    const messages = this.array.toArray().filter((m) => m instanceof Y.Map)
    const nodes = messages.map((m) => {
      const id = String(m.get('id'))
      let el = this.items.get(id)
      if (!el) { el = this.element(m, id); this.items.set(id, el) }
      el.update()
      return el
    })
    reconcile(this.list, nodes)
    this.empty.hidden = nodes.length > 0
  }

  element (m, id) {
    const author = h('span', { class: 'comment-author' })
    const time = h('time', { class: 'comment-time' })
    const text = h('p', { class: 'comment-text' })
    const li = h('li', { class: 'comment message', id: `message-${safeId(id)}`, dataset: { testid: `message-${id}` } },
      h('div', { class: 'comment-meta' }, author, ' ', time), text)
    li.update = () => {
      const value = m.get('text')
      author.textContent = m.get('authorName') || t('member.unknown')
      time.textContent = formatDateTime(m.get('createdAt'))
      if (m.get('createdAt')) time.setAttribute('datetime', m.get('createdAt'))
      text.textContent = value instanceof Y.Text ? value.toString() : String(value ?? '')
    }
    return li
  }
}
