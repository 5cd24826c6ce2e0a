// Debian's Chromium for playwright-core (never a downloaded browser); launch()
// gives it a fresh temporary profile of its own.
export const launchOptions = {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  timeout: 30000,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
};
