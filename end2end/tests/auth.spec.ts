import { expect, test } from "@playwright/test";
import { ADMIN, askfirst, consoleErrors, hydrated, signIn } from "./helpers";

// One server, one database: these steps build on each other, in order.
test.describe.configure({ mode: "serial" });

test("a fresh install sends everyone to first-run setup", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/setup$/);
  await expect(page.getByRole("heading", { name: "Welcome to askfirst" })).toBeVisible();
});

test("first run without the printed link cannot create the admin", async ({ page }) => {
  await page.goto("/setup");
  await expect(page.getByRole("status")).toContainText("Open the setup link the server printed");
  const res = await page.request.post("/rpc/create_first_admin", {
    form: { username: "mallory", password: "long enough 1", password_confirm: "long enough 1" },
    headers: { accept: "application/json" },
  });
  expect(res.status()).toBe(403);
});

test("first run creates the admin and signs them in", async ({ page }) => {
  const errors = consoleErrors(page);
  await page.goto("/setup?token=e2e-setup-token");
  await hydrated(page);
  await page.getByLabel("Admin username").fill(ADMIN.username);
  await page.getByLabel(/^Password/).fill(ADMIN.password);
  await page.getByLabel("Repeat the password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Create admin and sign in" }).click();

  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("heading", { name: `Signed in as ${ADMIN.username}` })).toBeVisible();
  await expect(page.locator("main .role")).toHaveText("admin");
  expect(errors, "no console errors (CSP, panics)").toEqual([]);
});

test("the setup page is gone once someone exists", async ({ page }) => {
  const res = await page.goto("/setup");
  expect(res?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
});

test("the page hydrates: the password toggle works only with the wasm running", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  const password = page.getByLabel("Password", { exact: true });
  await expect(password).toHaveAttribute("type", "password");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(password).toHaveAttribute("type", "text");
  await expect(page.getByRole("button", { name: "Hide" })).toHaveAttribute("aria-pressed", "true");
});

test("a wrong password shows an error that does not reveal whether the user exists", async ({ page }) => {
  for (const username of [ADMIN.username, "nobody-here"]) {
    await page.goto("/login");
    await hydrated(page);
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password", { exact: true }).fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert")).toHaveText("wrong username or password");
    await expect(page).toHaveURL(/\/login/);
  }
});

test("sign out, then sign in again; the admin sees the admin navigation", async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await page.getByRole("button", { name: "Sign out" }).first().click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("heading", { name: "Sign in to askfirst" })).toBeVisible();

  // Signed out for real: the home page sends us back.
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);

  await signIn(page, ADMIN.username, ADMIN.password);
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link")).toHaveText(["Home", "Inbox", "History", "Bypasses", /^Reviews/, "Insights", "Audit", "Policy", "Agents", "People", "Notifications"]);
});

test("an admin adds a viewer, who sees only what a viewer may use", async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "People" }).click();
  await expect(page.getByRole("heading", { name: "People" })).toBeVisible();
  await hydrated(page);
  await page.getByLabel("Username").fill("vic");
  await page.getByLabel("Role", { exact: true }).selectOption("viewer");
  await page.getByLabel("Initial password").fill("viewer password 1");
  await page.getByRole("button", { name: "Add person" }).click();
  await expect(page.getByRole("status")).toHaveText("Added vic as viewer.");
  await expect(page.getByRole("cell", { name: "vic", exact: true })).toBeVisible();

  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, "vic", "viewer password 1");
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link")).toHaveText(["Home", "Inbox", "History", "Bypasses"]);
  await expect(page.locator("main .role")).toHaveText("viewer");

  // Hiding the link is not the check: the page itself is refused by the server.
  const res = await page.goto("/people");
  expect(res?.status()).toBe(403);
  await expect(page.getByRole("alert")).toHaveText("this needs the admin role");
});

test("people added with the CLI can sign in with their role", async ({ page }) => {
  askfirst(["user", "add", "mona", "--role", "manager", "--password-stdin"], "manager password 1\n");
  const listed = JSON.parse(askfirst(["user", "list", "--json"]));
  expect(listed.map((u: { username: string }) => u.username)).toEqual(["ada", "vic", "mona"]);
  await signIn(page, "mona", "manager password 1");
  await expect(page.locator("main .role")).toHaveText("manager");
});
