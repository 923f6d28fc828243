// Comments anchored to a goal, measure or section (comments zone, root `comments`). Every
// anchor gets a button with the live count; it opens a small thread in place, with an input
// to add one (a reply is a comment in the same thread). The zone is read live over its
// socket, but nobody writes it there: adding, editing, resolving, hiding and deleting are
// POSTs the server checks and writes for the signed-in person (./words.js). Everyone who may
// read comments may comment, a leser included, until the plan is closed (`ctx.mayComment`).
import * as Y from 'yjs'
import { h, safeId, reconcile } from '../dom.js'
import { t } from '../i18n.js'
import { formatDateTime } from '../format.js'
import { post, alertLine, textOf } from './words.js'

export class Comments {
  /** `zone` may be null (no access to comments): then anchors get no button. */
  constructor (zone, ctx) {
    this.zone = zone
    this.ctx = ctx
    this.anchors = new Map() // anchorId -> {button, panel, list, items: Map(id -> el), alert}
    if (!zone) return
    this.array = zone.doc.getArray('comments')
    this.array.observeDeep(() => this.refresh())
  }

  get enabled () { return Boolean(this.zone) }

  get mayWrite () { return Boolean(this.zone && this.ctx.mayComment) }

  all (anchorId) {
    if (!this.array) return []
    return this.array.toArray().filter((c) => c instanceof Y.Map && c.get('anchorId') === anchorId)
  }

  /**
   * The toggle button and the (initially hidden) thread for one anchor. `describedBy`: id of
   * the element naming the item. Returns {button, panel} or null without a comments zone.
   */
  anchor (anchorId, describedBy) {
    if (!this.zone) return null
    const key = safeId(anchorId)
    const panelId = `comments-${key}`
    const button = h('button', {
      type: 'button', class: 'btn btn-small btn-quiet btn-comment', 'aria-expanded': 'false', 'aria-controls': panelId,
      aria: { describedby: describedBy }, dataset: { testid: `comment-toggle-${anchorId}` }
    })
    const panel = h('div', {
      id: panelId, class: 'thread', hidden: true, role: 'region',
      aria: { label: t('comments.thread') }, dataset: { testid: `comment-thread-${anchorId}` }
    })
    const list = h('ol', { class: 'thread-list', 'aria-live': 'polite' })
    const empty = h('p', { class: 'muted' }, t('comments.none'))
    const alert = alertLine(`comment-error-${anchorId}`)
    panel.append(list, empty, alert)
    let input = null
    if (this.mayWrite) {
      const inputId = `comment-input-${key}`
      input = h('textarea', {
        id: inputId, class: 'input input-multi', rows: 2, 'data-native-undo': true,
        aria: { describedby: describedBy }, dataset: { testid: `comment-input-${anchorId}` }
      })
      const submit = h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: `comment-submit-${anchorId}` } }, t('comments.send'))
      const send = async () => {
        const text = input.value.trim()
        if (!text) { alert.show(t('comments.error.empty')); input.focus(); return }
        submit.disabled = true
        const result = await post(this.ctx, '/comments', { anchorId, text })
        submit.disabled = false
        if (result.ok) {
          alert.show('')
          input.value = ''
        } else {
          alert.show(result.error) // what was typed stays in the box
        }
        input.focus()
      }
      submit.addEventListener('click', send)
      input.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { event.preventDefault(); send() }
      })
      panel.append(h('div', { class: 'thread-new' },
        h('label', { for: inputId, class: 'field-label' }, t('comments.new')), input,
        h('div', { class: 'row' }, submit, h('span', { class: 'hint' }, t('comments.hint')))))
    }
    button.addEventListener('click', () => {
      const open = panel.hidden
      panel.hidden = !open
      button.setAttribute('aria-expanded', String(open))
      if (open) {
        this.renderThread(anchorId)
        if (input) input.focus()
      }
    })
    const entry = { button, panel, list, empty, alert, input, items: new Map() }
    this.anchors.set(anchorId, entry)
    this.renderCount(anchorId)
    return { button, panel }
  }

  forget (anchorId) { this.anchors.delete(anchorId) }

  refresh () {
    for (const anchorId of this.anchors.keys()) {
      this.renderCount(anchorId)
      if (!this.anchors.get(anchorId).panel.hidden) this.renderThread(anchorId)
    }
  }

  renderCount (anchorId) {
    const entry = this.anchors.get(anchorId)
    const comments = this.all(anchorId).filter((c) => !c.get('hiddenAt'))
    const open = comments.filter((c) => !c.get('resolved')).length
    entry.button.textContent = comments.length ? t('comments.count', { n: comments.length }) : t('comments.add')
    entry.button.dataset.count = String(comments.length)
    entry.button.classList.toggle('has-open', open > 0)
  }

  renderThread (anchorId) {
    const entry = this.anchors.get(anchorId)
    const comments = this.all(anchorId)
    const nodes = comments.map((c) => {
      const id = String(c.get('id'))
      let el = entry.items.get(id)
      if (!el) {
        el = this.commentElement(c, entry)
        entry.items.set(id, el)
      }
      el.update()
      return el
    })
    reconcile(entry.list, nodes)
    entry.empty.hidden = nodes.length > 0
  }

  commentElement (c, entry) {
    const id = String(c.get('id'))
    const me = String(this.ctx.me.id)
    const isKoordinator = this.ctx.me.role === 'koordinator'
    const act = async (path, body) => {
      const result = await post(this.ctx, `/comments/${encodeURIComponent(id)}${path}`, body || {})
      entry.alert.show(result.ok ? '' : result.error)
      return result.ok
    }
    const author = h('span', { class: 'comment-author' })
    const time = h('time', { class: 'comment-time' })
    const edited = h('span', { class: 'comment-edited muted', dataset: { testid: `comment-edited-${id}` } })
    const text = h('p', { class: 'comment-text' })
    const state = h('span', { class: 'badge badge-done' }, t('comments.resolved'))
    const hiddenNote = h('p', { class: 'note', dataset: { testid: `comment-hidden-${id}` } })
    const actions = h('div', { class: 'row comment-actions' })
    const editor = h('div', { class: 'comment-editor', hidden: true })
    let editing = false
    const li = h('li', { class: 'comment', dataset: { testid: `comment-${id}` } },
      h('div', { class: 'comment-meta' }, author, ' ', time, ' ', edited, ' ', state), text, hiddenNote, editor, actions)

    const button = (label, testid, onclick) =>
      h('button', { type: 'button', class: 'btn btn-link', dataset: { testid }, onclick }, label)
    const reply = entry.input && button(t('comments.reply'), `comment-reply-${id}`, () => entry.input.focus())
    const edit = button(t('comments.edit'), `comment-edit-${id}`, () => startEdit())
    const remove = button(t('comments.delete'), `comment-delete-${id}`, async () => {
      if (window.confirm(t('comments.deleteConfirm'))) await act('/delete')
    })
    const toggle = button('', `comment-resolve-${id}`, () => act('/resolve', { resolved: !c.get('resolved') }))
    const hide = button(t('comments.hide'), `comment-hide-${id}`, async () => {
      if (window.confirm(t('comments.hideConfirm'))) await act('/hide')
    })

    const startEdit = () => {
      editing = true
      const inputId = `comment-edit-input-${safeId(id)}`
      const input = h('textarea', {
        id: inputId, class: 'input input-multi', rows: 2, 'data-native-undo': true,
        dataset: { testid: `comment-edit-input-${id}` }, value: textOf(c.get('text'))
      })
      const stop = () => { editing = false; editor.hidden = true; editor.replaceChildren(); li.update(); edit.focus() }
      const save = async () => {
        const value = input.value.trim()
        if (!value) { entry.alert.show(t('comments.error.empty')); input.focus(); return }
        if (await act('/edit', { text: value })) stop()
        else input.focus()
      }
      editor.replaceChildren(
        h('label', { for: inputId, class: 'field-label' }, t('comments.editLabel')), input,
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: `comment-save-${id}` }, onclick: save }, t('comments.save')),
          h('button', { type: 'button', class: 'btn btn-small btn-quiet', onclick: stop }, t('comments.cancel'))))
      editor.hidden = false
      text.hidden = true
      actions.hidden = true
      input.focus()
    }

    li.update = () => {
      const mine = String(c.get('authorId') ?? '') === me
      const hiddenAt = c.get('hiddenAt')
      author.textContent = c.get('authorName') || t('member.unknown')
      time.textContent = formatDateTime(c.get('createdAt'))
      if (c.get('createdAt')) time.setAttribute('datetime', c.get('createdAt'))
      edited.textContent = c.get('editedAt') ? t('comments.edited', { time: formatDateTime(c.get('editedAt')) }) : ''
      text.textContent = textOf(c.get('text'))
      const resolved = Boolean(c.get('resolved'))
      li.classList.toggle('resolved', resolved)
      li.classList.toggle('comment-hidden', Boolean(hiddenAt))
      state.hidden = !resolved
      toggle.textContent = resolved ? t('comments.reopen') : t('comments.resolve')
      hiddenNote.hidden = !hiddenAt
      hiddenNote.textContent = hiddenAt ? t('comments.hidden', { name: c.get('hiddenByName') || t('member.unknown'), time: formatDateTime(hiddenAt) }) : ''
      if (editing) return
      text.hidden = Boolean(hiddenAt) // hidden: the trace shows, the words do not
      actions.hidden = false
      const may = this.mayWrite && !hiddenAt
      actions.replaceChildren(...[
        may && reply,
        may && mine && edit,
        may && mine && remove,
        may && (mine || isKoordinator) && toggle,
        may && isKoordinator && hide
      ].filter(Boolean))
    }
    return li
  }
}
