"""Print one version's section of CHANGELOG.md: the notes of that version's GitHub release.

    python .github/scripts/release_notes.py 0.2.0               # the section's text
    python .github/scripts/release_notes.py --prerelease 0.2.0  # "true" or "false"

The tag must be a PEP 440 version and CHANGELOG.md must have a ``## [<version>]`` section for it;
otherwise the script exits with status 1 and says which, so no release goes out without notes.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from packaging.version import InvalidVersion, Version

CHANGELOG = Path(__file__).resolve().parents[2] / "CHANGELOG.md"
HEADING = re.compile(r"^## \[(?P<version>[^\]]+)\][^\n]*$", flags=re.MULTILINE)
LINK_DEFINITION = re.compile(r"^\[[^\]]+\]: \S+$", flags=re.MULTILINE)


def parse_tag(tag: str) -> Version:
    """The version a tag names.

    Raises:
        ValueError: If the tag is not a PEP 440 version.
    """
    try:
        return Version(tag)
    except InvalidVersion:
        raise ValueError(f"tag {tag!r} is not a PEP 440 version such as 0.2.0") from None


def changelog_section(text: str, version: Version) -> str:
    """The body of the changelog section whose heading names ``version``.

    Raises:
        LookupError: If no section is for that version, or it is empty.
    """
    headings = list(HEADING.finditer(text))
    for index, heading in enumerate(headings):
        try:
            if Version(heading["version"]) != version:
                continue
        except InvalidVersion:  # [Unreleased]
            continue
        end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
        body = LINK_DEFINITION.sub("", text[heading.end() : end]).strip()
        if not body:
            raise LookupError(f"the CHANGELOG.md section for {version} is empty")
        return body + "\n"
    raise LookupError(f"CHANGELOG.md has no section '## [{version}]'")


def main(argv: list[str] | None = None) -> int:
    """Print the notes (or whether the version is a pre-release); 1 on a bad tag or section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tag", help="the pushed tag, a PEP 440 version")
    parser.add_argument("--prerelease", action="store_true", help="print true or false instead")
    args = parser.parse_args(argv)
    try:
        version = parse_tag(args.tag)
        notes = changelog_section(CHANGELOG.read_text(encoding="utf-8"), version)
    except (ValueError, LookupError) as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    sys.stdout.write(str(version.is_prerelease).lower() + "\n" if args.prerelease else notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
