// A small bridge from the Python tests to Debian's Chromium through playwright-core: one JSON command per
// line on stdin, one JSON answer per line on stdout. Pages are named, each in a browser context of its own
// (its own cookies), so one test can be the owner and the customer at once.
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({ executablePath, args: CHROMIUM_FLAGS });
const pages = new Map();
const requests = [];
const consoleLines = [];

async function page(name = 'main') {
    if (!pages.has(name)) {
        // The upload host's certificate is the demo's self-signed one, as a person would accept it once.
        const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
        const created = await context.newPage();
        created.on('request', (request) => requests.push({ page: name, url: request.url(), method: request.method() }));
        created.on('console', (message) => consoleLines.push(`${name}: ${message.type()}: ${message.text()}`));
        created.on('pageerror', (error) => consoleLines.push(`${name}: pageerror: ${error.message}`));
        pages.set(name, created);
    }
    return pages.get(name);
}

const ops = {
    async goto({ page: name, url }) { const response = await (await page(name)).goto(url); return response ? response.status() : null; },
    async waitFor({ page: name, selector, state = 'visible', timeout = 15000 }) {
        await (await page(name)).locator(selector).first().waitFor({ state, timeout }); return true;
    },
    async click({ page: name, selector, timeout = 15000 }) { await (await page(name)).locator(selector).first().click({ timeout }); return true; },
    async hover({ page: name, selector, timeout = 15000 }) { await (await page(name)).locator(selector).first().hover({ timeout }); return true; },
    async fill({ page: name, selector, value }) { await (await page(name)).locator(selector).first().fill(value); return true; },
    async press({ page: name, selector, key }) { await (await page(name)).locator(selector).first().press(key); return true; },
    async type({ page: name, selector, value }) { await (await page(name)).locator(selector).first().pressSequentially(value, { delay: 30 }); return true; },
    async texts({ page: name, selector }) { return (await page(name)).locator(selector).allTextContents(); },
    async attribute({ page: name, selector, attribute }) { return (await page(name)).locator(selector).first().getAttribute(attribute); },
    async count({ page: name, selector }) { return (await page(name)).locator(selector).count(); },
    async evaluate({ page: name, expression }) { return (await page(name)).evaluate(expression); },
    async setFiles({ page: name, selector, files }) { await (await page(name)).locator(selector).first().setInputFiles(files); return true; },
    async screenshot({ page: name, path }) { await (await page(name)).screenshot({ path, fullPage: false }); return path; },
    async requests() { return requests; },
    async console() { return consoleLines; },
    // Like a person closing the tab: beforeunload, pagehide and unload run, then the tab goes.
    async closeTab({ page: name }) {
        const found = pages.get(name);
        if (found) { const closed = new Promise((resolve) => found.once('close', resolve)); await found.close({ runBeforeUnload: true }); await closed; pages.delete(name); }
        return true;
    },
    async closePage({ page: name }) { const found = pages.get(name); if (found) { await found.context().close(); pages.delete(name); } return true; },
};

const lines = createInterface({ input: process.stdin });
process.stdout.write(JSON.stringify({ ready: true, version: browser.version() }) + '\n');
for await (const line of lines) {
    const command = JSON.parse(line);
    let answer;
    try {
        answer = { id: command.id, ok: true, result: await ops[command.op](command) };
    } catch (error) {
        answer = { id: command.id, ok: false, error: String(error && error.message || error) };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
}
await browser.close();
