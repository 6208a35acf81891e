import AxeBuilder from "@axe-core/playwright";
import { expect, Page, test } from "@playwright/test";
import { askfirst, hydrated, signIn } from "./helpers";
import { Agent, createUser, E2E_PASSWORD } from "./gate";

// Every page each role may open, at a phone's size and a laptop's: reachable from the
// navigation (on the phone, through its menu), never wider than the screen, and without
// accessibility violations. A screenshot of each is kept with the test's output.


const SIZES = [
  ["phone", { width: 390, height: 844 }],
  ["laptop", { width: 1280, height: 800 }],
] as const;

const ROLES = ["viewer", "approver", "manager", "admin"] as const;

let callId: string;

test.beforeAll(async () => {
  const users = askfirst(["user", "list"]);
  for (const role of ROLES) {
    if (!users.includes(`pages-${role}`)) createUser(`pages-${role}`, role);
  }
  const agent = await Agent.create(`pages-bot-${Date.now()}`);
  callId = (
    await agent.propose({
      tool: "restart",
      args: { host: "web-1", reason_for_restart: "a very long argument value that must wrap rather than widen the page" },
      reason: "The health check has failed for ten minutes.",
    })
  ).id;
});

/** The main navigation's links, as the page shows them at its current size. */
async function navLinks(page: Page): Promise<{ name: string; href: string }[]> {
  const menu = page.locator("details.nav-narrow");
  if (await menu.isVisible()) {
    await menu.locator("summary").click();
  }
  const links = page.getByRole("navigation", { name: "Main" }).getByRole("link");
  await expect(links.first()).toBeVisible();
  const found = await links.evaluateAll((els) =>
    els.map((a) => ({ name: (a.textContent ?? "").trim(), href: a.getAttribute("href") ?? "" })),
  );
  if (await menu.isVisible()) {
    await menu.locator("summary").click();
  }
  return found;
}

for (const role of ROLES) {
  test(`every page a ${role} may open fits a phone and a laptop, with no accessibility violations`, async ({ page }, info) => {
    test.setTimeout(240_000);
    await signIn(page, `pages-${role}`, E2E_PASSWORD);
    for (const [size, viewport] of SIZES) {
      await page.setViewportSize(viewport);
      await page.goto("/");
      await hydrated(page);
      const links = await navLinks(page);
      expect(links.length, "the navigation lists the role's pages").toBeGreaterThan(1);
      const paths = [...links.map((l) => l.href), "/account", `/calls/${callId}`];
      for (const path of paths) {
        await page.goto(path);
        await hydrated(page);
        // Nothing scrolls sideways.
        const widths = await page.evaluate(() => ({
          scroll: document.documentElement.scrollWidth,
          inner: window.innerWidth,
          // The innermost elements reaching past the screen's edge, to say what is too wide.
          wide: [...document.querySelectorAll("body *")]
            .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
            .filter((el) => ![...el.children].some((c) => c.getBoundingClientRect().right > window.innerWidth + 1))
            .slice(0, 5)
            .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`),
        }));
        expect.soft(widths.scroll, `${path} at ${size}: page width (${widths.wide.join(", ")})`).toBeLessThanOrEqual(widths.inner);
        // Any impact counts.
        const results = await new AxeBuilder({ page }).analyze();
        expect.soft(
          results.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target).join(" ")}`),
          `${path} at ${size}`,
        ).toEqual([]);
        const name = `${role}-${size}-${path.replace(/[^a-z0-9]+/gi, "_")}`;
        const shot = await page.screenshot({ path: info.outputPath(`${name}.png`), fullPage: true });
        await info.attach(name, { body: shot, contentType: "image/png" });
      }
      // On the phone, every page is two taps away: the menu, then the page.
      if (size === "phone") {
        await page.goto("/inbox");
        await hydrated(page);
        await page.locator("details.nav-narrow summary").click();
        const last = links[links.length - 1];
        await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: last.name, exact: true }).click();
        await expect(page).toHaveURL(new RegExp(`${last.href.replace(/[?]/g, "\\?")}$`));
      }
    }
  });
}
