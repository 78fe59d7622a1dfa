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

refreshHealth();
setInterval(refreshHealth, 5000);
