"""Compare a newly compiled plan with the checked-in one: what changed, and is it allowed."""

from __future__ import annotations

from dataclasses import dataclass, field

from pitstop.jsontypes import JSONObject
from pitstop.plan.fingerprint import DATA_FIELDS, METADATA_FIELDS
from pitstop.plan.naming import dag_id


@dataclass
class ViewChange:
    view: str
    status: str  # "added" | "removed" | "changed" | "unchanged"
    old_version: int | None = None
    new_version: int | None = None
    values_change: bool = False  # the data fingerprint changed: values differ, a version bump is needed
    fields: list[str] = field(default_factory=list)  # top-level fields that changed
    features_added: list[str] = field(default_factory=list)
    features_removed: list[str] = field(default_factory=list)
    features_changed: list[str] = field(default_factory=list)
    problem: str | None = None  # why applying is refused

    def lines(self) -> list[str]:
        mark = {"added": "+", "removed": "-", "changed": "~", "unchanged": " "}[self.status]
        version = (f"v{self.new_version}" if self.old_version in (None, self.new_version)
                   else f"v{self.old_version} -> v{self.new_version}") if self.new_version else f"v{self.old_version}"
        head = f"{mark} view {self.view} ({version})"
        if self.status == "changed":
            head += ": " + ("values change, needs a new version" if self.values_change
                            else "metadata only, no version bump needed")
        out = [head]
        if self.fields:
            out.append(f"    fields: {', '.join(self.fields)}")
        out += [f"    + feature {n}" for n in self.features_added]
        out += [f"    - feature {n}" for n in self.features_removed]
        out += [f"    ~ feature {n}" for n in self.features_changed]
        if self.problem:
            out.append(f"    ! {self.problem}")
        return out


@dataclass
class PlanDiff:
    changes: list[ViewChange]
    other: list[str]  # entity/source/project-level changes

    @property
    def problems(self) -> list[str]:
        return [f"view {c.view}: {c.problem}" for c in self.changes if c.problem]

    @property
    def removed(self) -> list[str]:
        return [c.view for c in self.changes if c.status == "removed"]

    @property
    def retired_dag_ids(self) -> list[str]:
        """DAGs the new plan no longer generates: removed views and the old version of bumped ones."""
        return sorted(dag_id(c.view, c.old_version) for c in self.changes if c.old_version is not None and (
            c.status == "removed" or (c.new_version is not None and c.new_version != c.old_version)))

    @property
    def is_empty(self) -> bool:
        return not self.other and all(c.status == "unchanged" for c in self.changes)

    def render(self) -> str:
        shown = [c for c in self.changes if c.status != "unchanged"]
        if not shown and not self.other:
            return "No changes: the checked-in plan is up to date."
        lines: list[str] = []
        for change in shown:
            lines += change.lines()
        lines += [f"~ {o}" for o in self.other]
        return "\n".join(lines)


def _features(entry: JSONObject) -> dict[str, JSONObject]:
    return {f["name"]: f for f in entry["features"]}


def diff_plans(old: JSONObject | None, new: JSONObject, locations: dict[str, str | None],
               *, prune: bool = False) -> PlanDiff:
    old_views: JSONObject = (old or {}).get("views", {})
    new_views: JSONObject = new["views"]
    changes: list[ViewChange] = []
    for name in sorted(set(old_views) | set(new_views)):
        before, after = old_views.get(name), new_views.get(name)
        where = locations.get(name) or "its definition"
        if before is None:
            assert after is not None
            changes.append(ViewChange(name, "added", new_version=after["version"], values_change=True,
                                      features_added=[f["name"] for f in after["features"]]))
            continue
        if after is None:
            problem = None if prune else (
                "is in the checked-in plan but no longer defined in feature_defs; run `pitstop apply "
                "--prune` to retire it (its DAG and online keys go; offline tables stay until vacuumed), "
                "or restore its definition")
            changes.append(ViewChange(name, "removed", old_version=before["version"], problem=problem))
            continue
        fields = [k for k in (*DATA_FIELDS, *METADATA_FIELDS, "version")
                  if before.get(k) != after.get(k)]
        fb, fa = _features(before), _features(after)
        change = ViewChange(
            name, "changed" if fields else "unchanged", old_version=before["version"],
            new_version=after["version"],
            values_change=before["data_fingerprint"] != after["data_fingerprint"],
            fields=fields,
            features_added=sorted(set(fa) - set(fb)),
            features_removed=sorted(set(fb) - set(fa)),
            features_changed=sorted(n for n in set(fa) & set(fb) if fa[n] != fb[n]),
        )
        if after["version"] < before["version"]:
            change.problem = (f"version went down from {before['version']} to {after['version']}; versions "
                              f"only go up: set version={before['version'] + 1} at {where}")
        elif change.values_change and after["version"] == before["version"]:
            changed = ", ".join(k for k in DATA_FIELDS if before.get(k) != after.get(k)) or \
                "the data fingerprint rules of this pitstop release"
            change.problem = (f"changes values ({changed}) without a version bump: set "
                              f"version={before['version'] + 1} at {where}, so the new values get new "
                              f"tables and a fresh history while v{before['version']} keeps serving")
        changes.append(change)
    other: list[str] = []
    if old is not None:
        for section, label in (("entities", "entity"), ("sources", "source"), ("training_sets", "training set")):
            for key in sorted(set(old.get(section, {})) | set(new.get(section, {}))):
                a, b = old.get(section, {}).get(key), new.get(section, {}).get(key)
                if a != b:
                    state = "added" if a is None else "removed" if b is None else "changed"
                    other.append(f"{label} {key} {state}")
        if old.get("project") != new.get("project"):
            other.append(f"project {old.get('project')!r} -> {new.get('project')!r}")
        if old.get("schema_version") != new.get("schema_version"):
            other.append(f"plan schema_version {old.get('schema_version')} -> {new.get('schema_version')}")
    return PlanDiff(changes, other)
