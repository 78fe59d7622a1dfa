// app.js shows the server's health and version next to the version this
// page was built for, so a half-finished update is visible at a glance.
const pageVersion = __VERSION__;

async function refreshHealth() {
  const el = document.getElementById('health');
  try {
    const res = await fetch('/api/health', { cache: 'no-store' });
    const body = await res.json();
    el.textContent = `${body.status}: server ${body.version}, page ${pageVersion}`;
    el.className = res.ok ? 'ok' : 'bad';
  } catch (err) {
    el.textContent = `unreachable: ${err.message}`;
    el.className = 'bad';
  }
}

// refreshNotes lists the notes, newest first.
async function refreshNotes() {
  const list = document.getElementById('notes');
  try {
    const res = await fetch('/api/notes', { cache: 'no-store' });
    const { notes } = await res.json();
    const items = notes.slice().reverse().map((note) => {
      const li = document.createElement('li');
      li.textContent = note.text;
      return li;
    });
    if (items.length === 0) {
      const li = document.createElement('li');
      li.textContent = 'No notes yet.';
      li.className = 'pending';
      items.push(li);
    }
    list.replaceChildren(...items);
  } catch (err) {
    list.textContent = `cannot load notes: ${err.message}`;
  }
}

refreshHealth();
refreshNotes();
setInterval(refreshHealth, 5000);
