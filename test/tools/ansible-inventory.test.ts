/** Ansible's own inventories, read by Ansible's own ansible-inventory, then selected with --limit. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ansibleHosts, readAnsibleInventory } from "../../src/remote/ansible.js";
import { targetsFrom } from "../../src/remote/fleet.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-ansible-"));
const ini = join(dir, "hosts.ini");
writeFileSync(
  ini,
  ["ax3-01 ansible_host=192.0.2.10", "[lab]", "ax3-02 ansible_host=192.0.2.11 ansible_port=2222 ansible_user=admin ansible_ssh_private_key_file=keys/lab", "[fleet:children]", "lab", "[fleet]", "ax3-03", ""].join("\n"),
);
const yml = join(dir, "hosts.yml");
writeFileSync(yml, "all:\n  children:\n    lab:\n      hosts:\n        ax3-02:\n          ansible_host: 192.0.2.11\n          ansible_port: 2222\n");
const base = { host: [], port: "22", user: "root", acceptNewHostKey: false };

describe("Ansible inventories", () => {
  it("reads an INI inventory with ansible-inventory: every host once, with its address, port, user and key", async () => {
    const list = await readAnsibleInventory(ini);
    expect(ansibleHosts(list)).toEqual([
      { name: "ax3-01", host: "192.0.2.10" },
      { name: "ax3-03", host: "ax3-03" },
      { name: "ax3-02", host: "192.0.2.11", port: 2222, user: "admin", identity: "keys/lab" },
    ]);
  });

  it("--limit takes groups (with their children) and hosts; an unknown name is an error naming the groups", async () => {
    const list = await readAnsibleInventory(ini);
    expect(ansibleHosts(list, "fleet").map((h) => h.name)).toEqual(["ax3-03", "ax3-02"]);
    expect(ansibleHosts(list, "lab,ax3-01").map((h) => h.name)).toEqual(["ax3-02", "ax3-01"]);
    expect(() => ansibleHosts(list, "labs")).toThrow(/"labs" is neither a group nor a host of the inventory/);
  });

  it("kiln flash --inventory takes either kind; --limit only with Ansible's", async () => {
    const targets = await targetsFrom({ ...base, inventory: yml }, "flash");
    expect(targets.map((t) => `${t.user}@${t.host}:${t.port}`)).toEqual(["root@192.0.2.11:2222"]);
    const ours = join(dir, "kiln.yaml");
    writeFileSync(ours, "- 192.0.2.20\n- { host: 192.0.2.21, port: 2200 }\n");
    expect((await targetsFrom({ ...base, inventory: ours }, "flash")).map((t) => t.port)).toEqual([22, 2200]);
    await expect(targetsFrom({ ...base, inventory: ours, limit: "lab" }, "flash")).rejects.toThrow(/--limit selects groups of an Ansible inventory/);
    const limited = await targetsFrom({ ...base, inventory: ini, limit: "lab" }, "flash");
    expect(limited).toMatchObject([{ host: "192.0.2.11", port: 2222, user: "admin", identity: expect.stringMatching(/\/keys\/lab$/) as unknown }]);
    const junk = join(dir, "junk.txt");
    writeFileSync(junk, "this is not an inventory [\n");
    await expect(targetsFrom({ ...base, inventory: junk }, "flash")).rejects.toThrow(/junk\.txt/);
  });
});
