// Who is in the plan now: the awareness states of the plan's zones (the server overwrites
// each state's `user` with the authenticated identity, so we show what arrives), one entry per
// user id however many tabs or zones they have open. Live.
import { h, safeColor, initialsOf } from '../dom.js'
import { t, tEnum } from '../i18n.js'

export class Presence {
  constructor (zones, ctx) {
    this.zones = zones
    this.ctx = ctx
    this.list = h('ul', { class: 'presence-list', dataset: { testid: 'presence' }, aria: { labelledby: 'presence-heading' } })
    this.el = h('section', { class: 'presence', aria: { labelledby: 'presence-heading' } },
      h('h2', { id: 'presence-heading', class: 'side-heading' }, t('presence.heading')), this.list)
    this.scheduled = false
    for (const zone of zones) {
      zone.provider.awareness.on('change', () => this.schedule())
    }
    this.render()
  }

  schedule () {
    if (this.scheduled) return
    this.scheduled = true
    requestAnimationFrame(() => { this.scheduled = false; this.render() })
  }

  users () {
    const byId = new Map()
    for (const zone of this.zones) {
      for (const state of zone.provider.awareness.getStates().values()) {
        const user = state && state.user
        if (!user || user.id === undefined || user.id === null) continue
        const id = String(user.id)
        if (!byId.has(id)) byId.set(id, user)
      }
    }
    return [...byId.entries()]
  }

  render () {
    const meId = String(this.ctx.me.id)
    const users = this.users().sort(([a], [b]) => (a === meId ? -1 : b === meId ? 1 : 0))
    this.list.replaceChildren(...users.map(([id, user]) => {
      const member = this.ctx.membersById.get(id)
      const name = String(user.name || (member && member.name) || t('member.unknown'))
      const initials = (member && member.initials) || initialsOf(name)
      const badge = h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials)
      badge.style.borderColor = safeColor(user.color)
      return h('li', { class: 'presence-item', dataset: { userId: id } },
        badge,
        h('span', { class: 'presence-name' }, name, id === meId ? ` ${t('presence.you')}` : ''),
        h('span', { class: 'presence-role' }, tEnum('role', user.role || (member && member.role))))
    }))
    this.list.dataset.count = String(users.length)
  }
}
