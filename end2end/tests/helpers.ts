import { expect, Page } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";

export const ADMIN = { username: "ada", password: "correct horse battery" };

/** Waits until the page's islands are hydrated (a page without islands loads no wasm and
 * has nothing to wait for). */
export async function hydrated(page: Page) {
  if ((await page.locator("leptos-island").count()) === 0) return;
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true", { timeout: 20_000 });
}

/** Signs in through the form and waits for the home page. */
export async function signIn(page: Page, username: string, password: string) {
  await page.goto("/login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: /Signed in as/ })).toBeVisible();
}

/** Runs the askfirst CLI against the database the test server uses. */
export function askfirst(args: string[], input?: string): string {
  const bin = process.env.ASKFIRST_BIN ?? resolve(__dirname, "../../target/debug/askfirst");
  const db = `${process.env.ASKFIRST_E2E_DIR}/askfirst.db`;
  return execFileSync(bin, ["--db", db, ...args], { input, encoding: "utf8" });
}

/** Collects console errors (CSP violations, panics) so a test can assert there were none. */
export function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  page.on("pageerror", (err) => errors.push(err.message));
  return errors;
}

/**
 * After a decision on a card: the triage loop went on (to the next call waiting on this
 * person, or to the inbox) and says what the decision on call `id` did.
 */
export async function decided(page: Page, id: string, said: string | RegExp) {
  const note = page.locator(".decided-note");
  await expect(note).toContainText(said);
  await expect(note.getByRole("link")).toHaveAttribute("href", `/calls/${id}`);
}
