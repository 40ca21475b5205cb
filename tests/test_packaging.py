"""What hassfest and the HACS validator check, checked here so a mistake fails `scripts/test`.

hassfest (`script/hassfest`) is not part of the Home Assistant wheel, so its rules for a custom
integration's manifest are written down below; what the installed Home Assistant does know (the
keys its loader reads, the brand image names its `brands` integration serves) is imported from
it, so the two cannot drift apart silently. The HACS rules are those of its `hacs.json` schema
and its integration manifest check. Each validator returns a list of problems; the last tests
feed them broken files to show a mistake is caught.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
from pathlib import Path
import re
import string
import typing
from typing import Any
from urllib.parse import parse_qs, urlparse

from awesomeversion import AwesomeVersion, AwesomeVersionException, AwesomeVersionStrategy
import homeassistant
from homeassistant.components.automation.config import async_validate_config_item
from homeassistant.components.brands.const import ALLOWED_IMAGES
from homeassistant.core import HomeAssistant
from homeassistant.loader import Manifest
from homeassistant.util.yaml import parse_yaml
from PIL import Image
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "basix_cti"
INTEGRATION = ROOT / "custom_components" / DOMAIN
MANIFEST = INTEGRATION / "manifest.json"
HACS_JSON = ROOT / "hacs.json"
BRAND = INTEGRATION / "brand"
TRANSLATIONS = INTEGRATION / "translations"
REPOSITORY = "https://github.com/basix-ha/ha-basix-cti"

# The release the integration is tested on: it uses probatio schemas and via_device_id (and
# local brand images, served from 2026.3 on), so an older minimum would be a false promise.
MINIMUM_HOMEASSISTANT = AwesomeVersion("2026.10.0")

# hassfest's CUSTOM_INTEGRATION_MANIFEST_SCHEMA (script/hassfest/manifest.py).
MANIFEST_KEYS = frozenset(
    {
        "after_dependencies",
        "bluetooth",
        "codeowners",
        "config_flow",
        "dependencies",
        "dhcp",
        "disabled",
        "documentation",
        "domain",
        "homekit",
        "import_executor",
        "integration_type",
        "iot_class",
        "issue_tracker",
        "loggers",
        "mqtt",
        "name",
        "quality_scale",
        "requirements",
        "single_config_entry",
        "ssdp",
        "usb",
        "version",
        "zeroconf",
    }
)
# hassfest's required keys, plus those HACS requires (issue_tracker, version) and those this
# integration must state rather than inherit a default for (config_flow, iot_class,
# integration_type: hassfest demands an iot_class of every integration that is not a helper).
REQUIRED_MANIFEST_KEYS = frozenset(
    {
        "codeowners",
        "config_flow",
        "documentation",
        "domain",
        "integration_type",
        "iot_class",
        "issue_tracker",
        "name",
        "version",
    }
)
IOT_CLASSES = frozenset(
    {
        "assumed_state",
        "calculated",
        "cloud_polling",
        "cloud_push",
        "local_polling",
        "local_push",
    }
)
# "virtual" is for core integrations that point at another one, never for a custom integration.
INTEGRATION_TYPES = frozenset(
    {"device", "entity", "hardware", "helper", "hub", "service", "system"}
)
QUALITY_SCALES = frozenset({"internal", "bronze", "silver", "gold", "platinum"})
VERSION_STRATEGIES = (
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
)
STRING_LISTS = ("after_dependencies", "codeowners", "dependencies", "loggers", "requirements")

# HACS's HACS_MANIFEST_JSON_SCHEMA (custom_components/hacs/utils/validate.py): extra keys fail.
HACS_KEYS: Mapping[str, type | tuple[type, ...]] = {
    "name": str,
    "content_in_root": bool,
    "zip_release": bool,
    "filename": str,
    "hide_default_branch": bool,
    "country": (str, list),
    "homeassistant": str,
    "hacs": str,
    "persistent_directory": str,
    "render_readme": bool,
}
# HACS's INTEGRATION_MANIFEST_JSON_SCHEMA: what HACS itself reads from manifest.json.
HACS_MANIFEST_KEYS = frozenset(
    {
        "codeowners",
        "documentation",
        "domain",
        "issue_tracker",
        "name",
        "version",
    }
)


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _is_url(value: Any, *, https: bool = False) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in (("https",) if https else ("http", "https")) and bool(parsed.netloc)


def _version_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"version {value!r} is not a string"
    try:
        AwesomeVersion(value, ensure_strategy=list(VERSION_STRATEGIES))
    except AwesomeVersionException:
        return f"version {value!r} is not a valid version"
    return None


def manifest_problems(manifest: Any, directory: Path) -> list[str]:
    """Everything hassfest and HACS would reject in a custom integration's manifest."""
    if not isinstance(manifest, dict):
        return ["manifest.json is not a JSON object"]
    problems: list[str] = []
    keys = set(manifest)
    problems += [f"missing key {key!r}" for key in sorted(REQUIRED_MANIFEST_KEYS - keys)]
    problems += [f"unknown key {key!r}" for key in sorted(keys - MANIFEST_KEYS)]

    order = sorted(manifest, key=lambda key: {"domain": "0", "name": "1"}.get(key, f"2{key}"))
    if list(manifest) != order:
        problems.append(f"keys are not sorted (domain, name, then alphabetical): {order}")

    domain = manifest.get("domain")
    if domain != directory.name:
        problems.append(f"domain {domain!r} does not match the directory {directory.name!r}")
    if (Path(homeassistant.__file__).parent / "components" / str(domain)).exists():
        problems.append(f"domain {domain!r} collides with a built-in integration")
    if not isinstance(manifest.get("name"), str) or not manifest.get("name"):
        problems.append("name must be a non-empty string")

    for key in STRING_LISTS:
        if key in manifest and not (
            isinstance(manifest[key], list) and all(isinstance(v, str) for v in manifest[key])
        ):
            problems.append(f"{key} must be a list of strings")
    codeowners = manifest.get("codeowners")
    if isinstance(codeowners, list) and (
        not codeowners or not all(str(owner).startswith("@") for owner in codeowners)
    ):
        problems.append("codeowners must name at least one GitHub @user or @org/team")

    if "documentation" in manifest and not _is_url(manifest["documentation"], https=True):
        problems.append("documentation must be an https URL")
    if "issue_tracker" in manifest and not _is_url(manifest["issue_tracker"]):
        problems.append("issue_tracker must be a URL")
    if "version" in manifest and (problem := _version_problem(manifest["version"])):
        problems.append(problem)
    if "iot_class" in manifest and manifest["iot_class"] not in IOT_CLASSES:
        problems.append(f"iot_class {manifest['iot_class']!r} is not one of {sorted(IOT_CLASSES)}")
    if "integration_type" in manifest and manifest["integration_type"] not in INTEGRATION_TYPES:
        problems.append(
            f"integration_type {manifest['integration_type']!r} is not one of "
            f"{sorted(INTEGRATION_TYPES)}"
        )
    if "quality_scale" in manifest and manifest["quality_scale"] not in QUALITY_SCALES:
        problems.append(f"quality_scale {manifest['quality_scale']!r} is unknown")
    for key in ("config_flow", "import_executor", "single_config_entry"):
        if key in manifest and not isinstance(manifest[key], bool):
            problems.append(f"{key} must be true or false")

    # hassfest's config_flow check: the flag and the module go together.
    has_flow_module = (directory / "config_flow.py").exists()
    if manifest.get("config_flow") is True and not has_flow_module:
        problems.append("config_flow is true but config_flow.py is missing")
    if has_flow_module and manifest.get("config_flow") is not True:
        problems.append("config_flow.py exists but the manifest does not set config_flow: true")
    return problems


def hacs_problems(hacs: Any) -> list[str]:
    """Everything the HACS validator would reject in hacs.json."""
    if not isinstance(hacs, dict):
        return ["hacs.json is not a JSON object"]
    problems = [f"unknown key {key!r}" for key in sorted(set(hacs) - set(HACS_KEYS))]
    if not isinstance(hacs.get("name"), str) or not hacs.get("name"):
        problems.append("name is required and must be a non-empty string")
    for key, kind in HACS_KEYS.items():
        if key in hacs and not isinstance(hacs[key], kind):
            problems.append(f"{key} has the wrong type {type(hacs[key]).__name__}")
    if isinstance(country := hacs.get("country"), str | list):
        codes = [country] if isinstance(country, str) else country
        if not all(isinstance(code, str) and re.fullmatch(r"[A-Za-z]{2}", code) for code in codes):
            problems.append("country must be ISO 3166-1 alpha-2 codes")
    minimum = hacs.get("homeassistant")
    if not isinstance(minimum, str):
        problems.append("homeassistant (the minimum release) must be set")
    else:
        version = AwesomeVersion(minimum)
        if version.strategy is AwesomeVersionStrategy.UNKNOWN:
            problems.append(f"homeassistant {minimum!r} is not a version")
        elif version < MINIMUM_HOMEASSISTANT:
            problems.append(
                f"homeassistant {minimum} is older than {MINIMUM_HOMEASSISTANT}, the first "
                "release that shows an integration's own brand images"
            )
    return problems


def brand_problems(directory: Path) -> list[str]:
    """Missing, misnamed, missized or opaque brand images."""
    if not directory.is_dir():
        return [f"{directory} is missing"]
    problems = [
        f"{path.name} is not an image name Home Assistant serves"
        for path in sorted(directory.iterdir())
        if path.name not in ALLOWED_IMAGES
    ]
    sizes: dict[str, tuple[int, int]] = {}
    for name in sorted(ALLOWED_IMAGES):
        path = directory / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        with Image.open(path) as image:
            if image.format != "PNG":
                problems.append(f"{name} is not a PNG")
            if image.mode != "RGBA":
                problems.append(f"{name} has no alpha channel (mode {image.mode})")
                continue
            sizes[name] = image.size
            alpha = image.getchannel("A")
            right, bottom = image.width - 1, image.height - 1
            corners = [(0, 0), (right, 0), (0, bottom), (right, bottom)]
            if all(alpha.getpixel(corner) == 255 for corner in corners):
                problems.append(f"{name} has an opaque background")
            box = alpha.getbbox()
            if box is None:
                problems.append(f"{name} is empty")
                continue
            left, top, right, bottom = box
            trimmed_x = left == 0 and right == image.width
            trimmed_y = top == 0 and bottom == image.height
            if not (trimmed_x or trimmed_y):
                problems.append(f"{name} is not trimmed: its drawing spans only {box}")

    for name, (width, height) in sizes.items():
        hidpi = "@2x" in name
        if name.removeprefix("dark_").startswith("icon"):
            side = 512 if hidpi else 256
            if (width, height) != (side, side):
                problems.append(f"{name} is {width}x{height}, not {side}x{side}")
        else:
            low, high = (256, 512) if hidpi else (128, 256)
            if not low <= min(width, height) <= high:
                problems.append(
                    f"{name} is {width}x{height}: its shortest side must be {low} to {high}"
                )
    for name, (width, height) in sizes.items():
        plain = sizes.get(name.replace("@2x", ""))
        if "@2x" in name and plain and (width, height) != (plain[0] * 2, plain[1] * 2):
            problems.append(f"{name} is not twice the size of {name.replace('@2x', '')}")
    return problems


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Translation strings by their dotted key."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        leaves |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return leaves


def placeholders(text: Any) -> set[str]:
    """The `{name}` placeholders of a translation string."""
    if not isinstance(text, str):
        return set()
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError:
        return {"<unbalanced braces>"}


def translation_problems(reference: Any, other: Any, language: str) -> list[str]:
    """Keys missing or extra in `other`, strings that are empty or drop a placeholder."""
    if not isinstance(other, dict):
        return [f"{language}.json is not a JSON object"]
    ours, theirs = flatten(reference), flatten(other)
    problems = [f"{language}.json lacks {key}" for key in sorted(ours.keys() - theirs.keys())]
    problems += [f"{language}.json has extra {key}" for key in sorted(theirs.keys() - ours.keys())]
    for key in sorted(ours.keys() & theirs.keys()):
        if not isinstance(theirs[key], str) or not theirs[key].strip():
            problems.append(f"{language}.json: {key} is empty or not text")
        elif placeholders(ours[key]) != placeholders(theirs[key]):
            problems.append(
                f"{language}.json: {key} has placeholders {sorted(placeholders(theirs[key]))}, "
                f"en.json {sorted(placeholders(ours[key]))}"
            )
    return problems


# The files of this repository.


def test_manifest() -> None:
    assert manifest_problems(load_json(MANIFEST), INTEGRATION) == []


def test_manifest_keys_are_known_to_home_assistant() -> None:
    """Home Assistant's own loader knows every key hassfest allows (catches a drifted list)."""
    assert set(typing.get_type_hints(Manifest)) >= MANIFEST_KEYS


def test_manifest_satisfies_hacs() -> None:
    manifest = load_json(MANIFEST)
    assert set(manifest) >= HACS_MANIFEST_KEYS
    assert manifest["documentation"].rstrip("/") == REPOSITORY
    assert manifest["issue_tracker"].rstrip("/") == f"{REPOSITORY}/issues"


def test_hacs_json() -> None:
    assert hacs_problems(load_json(HACS_JSON)) == []


def test_readme_exists_and_links_this_repository() -> None:
    """HACS renders README.md (render_readme); its badge must open this repository."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(
        r"https://my\.home-assistant\.io/redirect/hacs_repository/\?[^)\s\"]+", readme
    )
    assert links, "README.md has no 'open in HACS' link"
    query = parse_qs(urlparse(links[0]).query)
    owner, repository = urlparse(REPOSITORY).path.strip("/").split("/")
    assert query == {"owner": [owner], "repository": [repository], "category": ["integration"]}
    assert (ROOT / "README.ja.md").is_file()


@pytest.mark.parametrize("readme", ["README.md", "README.ja.md"])
async def test_readme_automations_are_valid(hass: HomeAssistant, readme: str) -> None:
    """The automation examples are meant to be pasted: Home Assistant must accept them."""
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / readme).read_text("utf-8"), re.DOTALL)
    automations = [
        config
        for config in map(parse_yaml, blocks)
        if isinstance(config, dict) and "triggers" in config
    ]
    assert len(automations) == 4, f"{readme} should show four automation examples"
    for config in automations:
        await async_validate_config_item(hass, str(config["alias"]), config)


def test_brand_images() -> None:
    assert brand_problems(BRAND) == []


def test_translations_exist() -> None:
    assert (TRANSLATIONS / "en.json").is_file(), "translations/en.json is missing"
    assert (TRANSLATIONS / "ja.json").is_file(), "translations/ja.json is missing"


@pytest.mark.parametrize(
    "path",
    sorted(path for path in TRANSLATIONS.glob("*.json") if path.name != "en.json"),
    ids=lambda path: path.stem,
)
def test_translation_matches_english(path: Path) -> None:
    reference = load_json(TRANSLATIONS / "en.json")
    assert translation_problems(reference, load_json(path), path.stem) == []


# The validators catch mistakes.


def _good_manifest() -> dict[str, Any]:
    return {
        "domain": DOMAIN,
        "name": "Basix PBX",
        "codeowners": ["@basix-ha"],
        "config_flow": True,
        "documentation": REPOSITORY,
        "integration_type": "hub",
        "iot_class": "cloud_push",
        "issue_tracker": f"{REPOSITORY}/issues",
        "requirements": [],
        "version": "0.1.0",
    }


def test_good_manifest_passes() -> None:
    assert manifest_problems(_good_manifest(), INTEGRATION) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m.pop("version"), "missing key 'version'"),
        (lambda m: m.pop("issue_tracker"), "missing key 'issue_tracker'"),
        (lambda m: m.pop("iot_class"), "missing key 'iot_class'"),
        (lambda m: m.update(homeassistant="2026.3.0"), "unknown key 'homeassistant'"),
        (lambda m: m.update(version="not a version"), "is not a valid version"),
        (lambda m: m.update(version=1), "is not a string"),
        (lambda m: m.update(iot_class="cloud_pushed"), "iot_class 'cloud_pushed'"),
        (lambda m: m.update(integration_type="virtual"), "integration_type 'virtual'"),
        (lambda m: m.update(domain="basix"), "does not match the directory"),
        (lambda m: m.update(documentation="http://example.com"), "https URL"),
        (lambda m: m.update(codeowners=["basix-ha"]), "codeowners"),
        (lambda m: m.update(requirements="aiohttp"), "requirements must be a list"),
        (lambda m: m.update(config_flow="yes"), "config_flow must be true or false"),
        (lambda m: m.update(config_flow=False), "config_flow.py exists"),
    ],
)
def test_broken_manifest_fails(change: Any, expected: str) -> None:
    manifest = _good_manifest()
    change(manifest)
    assert any(expected in problem for problem in manifest_problems(manifest, INTEGRATION))


def test_unsorted_manifest_fails() -> None:
    manifest = _good_manifest()
    unsorted = {"name": manifest.pop("name"), **manifest}
    assert any("not sorted" in problem for problem in manifest_problems(unsorted, INTEGRATION))
    alphabetical = dict(sorted(_good_manifest().items()))
    assert any("not sorted" in problem for problem in manifest_problems(alphabetical, INTEGRATION))


def test_builtin_domain_fails(tmp_path: Path) -> None:
    directory = tmp_path / "sensor"
    directory.mkdir()
    manifest = _good_manifest() | {"domain": "sensor", "config_flow": False}
    assert any("built-in" in problem for problem in manifest_problems(manifest, directory))


@pytest.mark.parametrize(
    ("hacs", "expected"),
    [
        ({"name": "Basix PBX", "homeassistant": "2026.3.0", "domains": ["sensor"]}, "unknown key"),
        ({"name": "Basix PBX", "homeassistant": "2026.3.0", "iot_class": "x"}, "unknown key"),
        ({"homeassistant": "2026.3.0"}, "name is required"),
        ({"name": "Basix PBX"}, "homeassistant (the minimum release) must be set"),
        ({"name": "Basix PBX", "homeassistant": "2026.9.0"}, "older than 2026.10.0"),
        ({"name": "Basix PBX", "homeassistant": "soon"}, "is not a version"),
        ({"name": "Basix PBX", "homeassistant": "2026.3.0", "render_readme": "yes"}, "wrong type"),
        ({"name": "Basix PBX", "homeassistant": "2026.3.0", "country": ["Japan"]}, "country"),
        ([], "not a JSON object"),
    ],
)
def test_broken_hacs_json_fails(hacs: Any, expected: str) -> None:
    assert any(expected in problem for problem in hacs_problems(hacs))


def test_good_hacs_json_passes() -> None:
    assert hacs_problems({"name": "Basix PBX", "homeassistant": "2026.10.0", "country": "JP"}) == []


def _copy_brand(tmp_path: Path) -> Path:
    directory = tmp_path / "brand"
    directory.mkdir()
    for path in BRAND.glob("*.png"):
        (directory / path.name).write_bytes(path.read_bytes())
    return directory


def test_broken_brand_images_fail(tmp_path: Path) -> None:
    directory = _copy_brand(tmp_path)
    (directory / "dark_logo@2x.png").unlink()
    with Image.open(BRAND / "icon.png") as image:
        image.resize((200, 200)).save(directory / "icon.png")
        image.convert("RGB").save(directory / "icon@2x.png")
        padded = Image.new("RGBA", (256, 256))
        padded.paste(image.resize((128, 128)), (64, 64))
        padded.save(directory / "dark_icon.png")
    with Image.open(BRAND / "logo.png") as image:
        image.resize((image.width, 100)).save(directory / "logo.png")
    (directory / "favicon.png").write_bytes((BRAND / "icon.png").read_bytes())
    problems = "\n".join(brand_problems(directory))
    assert "dark_logo@2x.png is missing" in problems
    assert "icon.png is 200x200, not 256x256" in problems
    assert "icon@2x.png has no alpha channel" in problems
    assert "dark_icon.png is not trimmed" in problems
    assert "logo.png is" in problems
    assert "shortest side must be 128 to 256" in problems
    assert "favicon.png is not an image name" in problems


def test_translation_mismatch_fails() -> None:
    english = {"config": {"step": {"user": {"title": "Hi {domain}", "data": {"a": "A"}}}}}
    japanese = {"config": {"step": {"user": {"title": "こんにちは", "data": {"b": "B"}}}}}
    problems = "\n".join(translation_problems(english, japanese, "ja"))
    assert "ja.json lacks config.step.user.data.a" in problems
    assert "ja.json has extra config.step.user.data.b" in problems
    assert "config.step.user.title has placeholders []" in problems
    assert translation_problems(english, english, "ja") == []
