// Rich text (Om meg, Ressurser, Behov, descriptions): Tiptap 2 bound to a Y.XmlFragment.
// Only the nodes and marks of the zone contract (docs/schema.md): paragraph, heading,
// bulletList, orderedList, listItem, bold, italic. y-prosemirror deletes what its schema does
// not know, so everything else StarterKit offers is switched off. No History extension: the
// Collaboration extension's undo reverts only this user's changes.
import { Editor, Extension } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCursor from '@tiptap/extension-collaboration-cursor'
import { h, safeColor } from '../dom.js'
import { t } from '../i18n.js'

// Headings inside the plan text sit under the page's h2/h3 sections.
const HEADING_LEVELS = [3, 4]

function renderCursor (user) {
  const color = safeColor(user.color)
  const caret = h('span', { class: 'collab-caret' })
  caret.style.borderColor = color // CSSOM, not a style attribute: allowed by the CSP
  const label = h('span', { class: 'collab-label' }, String(user.name || '?'))
  label.style.borderColor = color
  caret.append(label)
  return caret
}

// ProseMirror applies decoration styles through CSSOM (style.cssText), which the CSP allows.
const renderSelection = (user) => ({
  nodeName: 'span',
  class: 'collab-selection',
  style: `background-color: ${safeColor(user.color)}33`
})

// Esc leaves the editor (no keyboard trap): focus goes to the editor's frame.
const EscapeLeaves = Extension.create({
  name: 'escapeLeaves',
  addKeyboardShortcuts () {
    return {
      Escape: () => {
        const frame = this.editor.view.dom.closest('.rt')
        if (frame) frame.focus()
        return true
      }
    }
  }
})

/**
 * A rich-text field. `label` names it for assistive tech (field + what it belongs to).
 * Returns {el, editor, destroy}.
 */
export function richText ({ fragment, provider, user, editable, label, testid, placeholder, optional }) {
  const mount = h('div', { class: 'rt-body' })
  const frame = h('div', { class: ['rt', editable ? 'rt-editable' : 'rt-readonly', optional && 'rt-optional'], tabindex: '-1', dataset: { placeholder: placeholder || '' } })
  const editor = new Editor({
    element: mount,
    editable,
    injectCSS: false, // the CSP forbids inline <style>; the rules are in samplan.css
    extensions: [
      StarterKit.configure({
        history: false,
        heading: { levels: HEADING_LEVELS },
        blockquote: false,
        code: false,
        codeBlock: false,
        hardBreak: false,
        horizontalRule: false,
        strike: false
      }),
      Collaboration.configure({ fragment }),
      CollaborationCursor.configure({ provider, user, render: renderCursor, selectionRender: renderSelection }),
      EscapeLeaves
    ],
    editorProps: {
      attributes: {
        role: 'textbox',
        'aria-multiline': 'true',
        'aria-label': label,
        ...(editable ? {} : { 'aria-readonly': 'true' }),
        ...(testid ? { 'data-testid': testid } : {}),
        class: 'rt-content',
        spellcheck: 'true'
      }
    }
  })

  const buttons = []
  if (editable) {
    const tool = (text, title, isActive, run) => {
      const button = h('button', {
        type: 'button', class: 'rt-tool', 'aria-pressed': 'false', aria: { label: title }, title,
        // Keep the selection in the editor when the button is clicked with a mouse.
        onmousedown: (event) => event.preventDefault(),
        onclick: () => { run(editor.chain().focus()).run() }
      }, text)
      buttons.push({ button, isActive })
      return button
    }
    frame.append(h('div', { class: 'rt-toolbar', role: 'toolbar', aria: { label: t('rt.toolbar', { field: label }) } },
      tool('B', t('rt.bold'), () => editor.isActive('bold'), (c) => c.toggleBold()),
      tool('I', t('rt.italic'), () => editor.isActive('italic'), (c) => c.toggleItalic()),
      tool('•', t('rt.bullets'), () => editor.isActive('bulletList'), (c) => c.toggleBulletList()),
      tool('1.', t('rt.numbers'), () => editor.isActive('orderedList'), (c) => c.toggleOrderedList())
    ))
  }
  frame.append(mount)

  const refresh = () => {
    frame.toggleAttribute('data-empty', editor.isEmpty)
    for (const { button, isActive } of buttons) button.setAttribute('aria-pressed', String(isActive()))
  }
  editor.on('transaction', refresh)
  editor.on('create', refresh)
  refresh()
  return { el: frame, editor, destroy: () => editor.destroy() }
}
