// Entry point on every page: log-out handling here; the plan page's and the minutes page's
// code is loaded only there.
import { setupLogin, setupLogout } from './offline-store.js'
import { connectEvents } from './events.js'
import { setupBell } from './notifications.js'
import { setupSession } from './session.js'

setupLogout()
setupLogin()
setupBell()
setupSession()
connectEvents()

// A form sent back with errors: its summary (role="alert") takes the focus, so a keyboard
// or screen-reader user starts from the list of what to fix.
const errorSummary = document.querySelector('.error-box[data-focus="true"]')
if (errorSummary) errorSummary.focus()

const root = document.getElementById('plan-app')
if (root) {
  import('./plan/app.js').then(({ start }) => start(root)).catch((error) => {
    console.error(error)
    root.dataset.error = 'true'
    const note = document.getElementById('plan-load-error')
    if (note) note.hidden = false
  })
}

const minutes = document.getElementById('minutes-app')
if (minutes) {
  import('./minutes/app.js').then(({ start }) => start(minutes)).catch((error) => {
    console.error(error)
    minutes.dataset.error = 'true'
    const note = document.getElementById('plan-load-error')
    if (note) note.hidden = false
  })
}

const meetingNotes = document.getElementById('meeting-notes')
if (meetingNotes) {
  import('./notes/meeting.js').then(({ start }) => start(meetingNotes)).catch((error) => {
    console.error(error)
    meetingNotes.dataset.error = 'true'
  })
}

const mine = document.getElementById('min-app')
if (mine) {
  import('./min/app.js').then(({ start }) => start(mine)).catch((error) => {
    console.error(error)
    mine.dataset.error = 'true'
  })
}
