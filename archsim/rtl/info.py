"""``archsim rtl info``: what a Verilog file declares, read with pyverilog (modules, parameters and their
defaults, ports with direction and width, submodule instances).

Widths that depend on parameters are resolved with the parameter defaults (or overrides) where the
expression is a constant integer expression; otherwise the range is reported as written. The parameter
names and defaults read here are what ``tests/rtl`` compares with the Python unit definitions, so Python
and RTL cannot drift apart.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archsim.errors import InputError
from archsim.rtl.runner import RTL_DIR
from archsim.rtl.units import RtlUnit, all_units

VERILOG_SUFFIXES = (".v", ".sv", ".vh")


@dataclass(slots=True)
class ParamInfo:
    """One parameter: its name, its value (an int when it evaluates, else the expression) and how it is
    declared (``parameter`` on the module header or body, ``localparam``)."""

    name: str
    value: int | str
    expr: str
    kind: str = "parameter"


@dataclass(slots=True)
class PortInfo:
    """One port: direction (input/output/inout), width in bits (an int, or the range as written when it
    does not evaluate), the range text, signedness and net kind (wire/reg)."""

    name: str
    direction: str
    width: int | str
    range: str = ""
    signed: bool = False
    net: str = "wire"


@dataclass(slots=True)
class ModuleInfo:
    """One module of one file."""

    name: str
    file: str
    parameters: list[ParamInfo] = field(default_factory=list)
    localparams: list[ParamInfo] = field(default_factory=list)
    ports: list[PortInfo] = field(default_factory=list)
    instances: list[tuple[str, str]] = field(default_factory=list)  # (module, instance name)

    def param_defaults(self) -> dict[str, int | str]:
        """The overridable parameters' default values, by name."""
        return {p.name: p.value for p in self.parameters}

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["instances"] = [{"module": m, "name": n} for m, n in self.instances]
        return d


# --- constant expressions ---------------------------------------------------------------------------------

_INT_RE = re.compile(r"^(?:(\d+)?\s*'\s*([sS])?([bBoOdDhH]))?\s*([0-9a-fA-F_xXzZ?]+)$")
_BASES = {"b": 2, "o": 8, "d": 10, "h": 16}


class _NotConstant(Exception):
    pass


def _int_literal(text: str) -> int:
    """A Verilog integer literal (``8``, ``4'd3``, ``8'shFF``, ``'b1010``, ``1_000``) as a Python int."""
    m = _INT_RE.match(text.strip())
    if m is None:
        raise _NotConstant(text)
    size, signed, base, digits = m.groups()
    digits = digits.replace("_", "")
    if re.search(r"[xXzZ?]", digits):
        raise _NotConstant(text)
    value = int(digits, _BASES[base.lower()] if base else 10)
    if size and base:
        bits = int(size)
        value &= (1 << bits) - 1
        if signed and value >> (bits - 1):
            value -= 1 << bits
    return value


def _clog2(x: int) -> int:
    return 0 if x <= 1 else (x - 1).bit_length()


_BINARY = {
    "Plus": lambda a, b: a + b, "Minus": lambda a, b: a - b, "Times": lambda a, b: a * b,
    "Divide": lambda a, b: int(a / b) if b else _raise(), "Mod": lambda a, b: a - b * int(a / b) if b else _raise(),
    "Power": lambda a, b: a ** b if b >= 0 else 0, "Sll": lambda a, b: a << b, "Srl": lambda a, b: a >> b,
    "Sla": lambda a, b: a << b, "Sra": lambda a, b: a >> b, "LessThan": lambda a, b: int(a < b),
    "GreaterThan": lambda a, b: int(a > b), "LessEq": lambda a, b: int(a <= b), "GreaterEq": lambda a, b: int(a >= b),
    "Eq": lambda a, b: int(a == b), "NotEq": lambda a, b: int(a != b), "Eql": lambda a, b: int(a == b),
    "NotEql": lambda a, b: int(a != b), "And": lambda a, b: a & b, "Or": lambda a, b: a | b,
    "Xor": lambda a, b: a ^ b, "Xnor": lambda a, b: ~(a ^ b), "Land": lambda a, b: int(bool(a) and bool(b)),
    "Lor": lambda a, b: int(bool(a) or bool(b)),
}
_UNARY = {"Uminus": lambda a: -a, "Uplus": lambda a: a, "Ulnot": lambda a: int(not a), "Unot": lambda a: ~a}


def _raise() -> int:
    raise _NotConstant("division by zero")


def evaluate(node: Any, env: dict[str, int]) -> int:
    """Evaluate a pyverilog expression node over integer parameters ``env``; raises ``_NotConstant``."""
    kind = type(node).__name__
    if kind == "IntConst":
        return _int_literal(node.value)
    if kind == "Identifier":
        if node.name in env:
            return env[node.name]
        raise _NotConstant(node.name)
    if kind in _BINARY:
        return _BINARY[kind](evaluate(node.left, env), evaluate(node.right, env))
    if kind in _UNARY:
        return _UNARY[kind](evaluate(node.right, env))
    if kind == "Cond":
        return evaluate(node.true_value if evaluate(node.cond, env) else node.false_value, env)
    if kind == "SystemCall" and node.syscall == "clog2" and len(node.args) == 1:
        return _clog2(evaluate(node.args[0], env))
    if kind == "Rvalue":
        return evaluate(node.var, env)
    raise _NotConstant(kind)


def _text(node: Any) -> str:
    from pyverilog.ast_code_generator.codegen import ASTCodeGenerator

    text = ASTCodeGenerator().visit(node).strip()
    # the code generator parenthesises every operation; a whole-expression pair is noise
    if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1]
    return text


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _value(node: Any, env: dict[str, int]) -> int | str:
    try:
        return evaluate(node, env)
    except (_NotConstant, ValueError, OverflowError, ZeroDivisionError):
        return _text(node)


# --- parsing ----------------------------------------------------------------------------------------------

_INTEGER_ARG = re.compile(r"\b(input|output|inout)\s+integer\b")
_PARSER: Any = None
_WORKDIR: str | None = None


def _workdir() -> str:
    global _WORKDIR
    if _WORKDIR is None:
        _WORKDIR = tempfile.mkdtemp(prefix="archsim_pyverilog_")
        atexit.register(shutil.rmtree, _WORKDIR, True)
    return _WORKDIR


def _parser() -> Any:
    """One pyverilog parser per process: building its LALR tables takes about a second."""
    global _PARSER
    if _PARSER is None:
        from pyverilog.vparser.parser import VerilogParser

        _PARSER = VerilogParser(outputdir=_workdir(), debug=False)
    return _PARSER


def parse_file(path: Path) -> Any:
    """The pyverilog AST of one file (preprocessed by ``iverilog -E``, as pyverilog's own ``parse`` does, but
    into a private directory instead of the current one)."""
    from pyverilog.vparser.preprocessor import VerilogPreprocessor

    path = Path(path)
    if not path.is_file():  # pyverilog would take a missing path for Verilog source text
        raise InputError("rtl", f"Verilog file '{path}' does not exist.")
    if shutil.which("iverilog") is None:
        raise InputError("rtl", "'iverilog' is not on PATH; pyverilog needs it to preprocess Verilog "
                                "(install Icarus Verilog; make setup does).")
    out = Path(_workdir()) / "preprocess.output"
    out.unlink(missing_ok=True)
    VerilogPreprocessor([str(path)], str(out)).preprocess()
    if not out.exists():
        raise InputError("rtl", f"iverilog could not preprocess '{path}'.")
    # pyverilog 1.3 has no "input integer" (legal for function arguments); a 32-bit signed input is the same
    text = _INTEGER_ARG.sub(r"\1 signed [31:0]", out.read_text())
    out.unlink()
    parser = _parser()
    parser.lexer.reset_lineno()  # the parser is reused: count this file's lines from 1
    try:
        return parser.parse(text, debug=0)
    except Exception as exc:  # pyverilog's ParseError and ply's errors
        raise InputError("rtl", f"pyverilog cannot parse '{path}': {exc}.") from None


def _declared_params(decls: list[Any], env: dict[str, int], overrides: dict[str, int],
                     params: list[ParamInfo], locals_: list[ParamInfo]) -> None:
    for decl in decls:
        for item in getattr(decl, "list", ()) or ():
            kind = type(item).__name__
            if kind not in ("Parameter", "Localparam"):
                continue
            local = kind == "Localparam"
            expr = _text(item.value)
            if not local and item.name in overrides:
                value: int | str = overrides[item.name]
            else:
                value = _value(item.value, env)
            if isinstance(value, int):
                env[item.name] = value
            (locals_ if local else params).append(ParamInfo(item.name, value, expr,
                                                            "localparam" if local else "parameter"))


def _range(width: Any, env: dict[str, int]) -> tuple[int | str, str]:
    if width is None:
        return 1, ""
    text = f"[{_text(width.msb)}:{_text(width.lsb)}]"
    try:
        return abs(evaluate(width.msb, env) - evaluate(width.lsb, env)) + 1, text
    except (_NotConstant, ValueError, OverflowError, ZeroDivisionError):
        return text, text


def _port(direction_node: Any, net_node: Any, env: dict[str, int]) -> PortInfo:
    direction = type(direction_node).__name__.lower()
    width_node = getattr(direction_node, "width", None) or getattr(net_node, "width", None)
    width, rng = _range(width_node, env)
    signed = bool(getattr(direction_node, "signed", False) or getattr(net_node, "signed", False))
    net = "reg" if type(net_node).__name__ == "Reg" else "wire"
    return PortInfo(direction_node.name, direction, width, rng, signed, net)


def module_info(mod: Any, file: str, overrides: dict[str, int] | None = None) -> ModuleInfo:
    """Parameters, ports and instances of one pyverilog ``ModuleDef``."""
    overrides = dict(overrides or {})
    env: dict[str, int] = {}
    info = ModuleInfo(mod.name, file)
    if mod.paramlist is not None:
        _declared_params(list(mod.paramlist.params), env, overrides, info.parameters, info.localparams)
    items = list(mod.items or ())
    _declared_params([i for i in items if type(i).__name__ == "Decl"], env, overrides, info.parameters,
                     info.localparams)
    # ANSI ports carry their direction; non-ANSI ports are declared in the body.
    body_dirs: dict[str, Any] = {}
    body_nets: dict[str, Any] = {}
    for item in items:
        if type(item).__name__ != "Decl":
            continue
        for d in item.list or ():
            kind = type(d).__name__
            if kind in ("Input", "Output", "Inout"):
                body_dirs[d.name] = d
            elif kind in ("Reg", "Wire"):
                body_nets[d.name] = d
    for port in (mod.portlist.ports if mod.portlist is not None else ()):
        if type(port).__name__ == "Ioport":
            info.ports.append(_port(port.first, port.second, env))
        elif port.name in body_dirs:
            info.ports.append(_port(body_dirs[port.name], body_nets.get(port.name), env))
        else:
            info.ports.append(PortInfo(port.name, "unknown", 1))
    for item in items:
        if type(item).__name__ == "InstanceList":
            for inst in item.instances:
                info.instances.append((item.module, inst.name))
    return info


def file_modules(path: Path, overrides: dict[str, int] | None = None, top: str | None = None) -> list[ModuleInfo]:
    """Every module of one Verilog file; ``overrides`` (parameter values) apply to module ``top`` only, or
    to every module when ``top`` is None."""
    tree = parse_file(path)
    return [module_info(d, str(path), overrides if top in (None, d.name) else None)
            for d in tree.description.definitions if type(d).__name__ == "ModuleDef"]


# --- targets: unit names and files ------------------------------------------------------------------------


@dataclass(slots=True)
class Target:
    """What ``archsim rtl info`` was asked about: a unit (its sources, its top) or a file."""

    label: str
    files: list[Path]
    top: str | None = None
    unit: RtlUnit | None = None


def unit_by_name(name: str) -> RtlUnit:
    """The unit called ``name``; ``InputError`` listing the known units otherwise."""
    units = all_units()
    if name not in units:
        known = ", ".join(units) or "none defined yet"
        raise InputError("unit", f"unknown RTL unit '{name}'; units: {known} (or give a .v file).")
    return units[name]


def resolve_targets(names: list[str] | None, rtl_dir: Path | None = None) -> list[Target]:
    """Unit names and Verilog paths to ``Target``s; no names means every unit."""
    rtl_dir = rtl_dir or RTL_DIR
    if not names:
        units = all_units()
        if not units:
            raise InputError("unit", "no RTL units are defined yet (archsim/rtl/unit_*.py).")
        names = list(units)
    out = []
    for name in names:
        path = Path(name)
        if path.suffix in VERILOG_SUFFIXES or path.is_file():
            out.append(Target(str(path), [path]))
        else:
            unit = unit_by_name(name)
            out.append(Target(unit.name, [rtl_dir / s for s in unit.sources], unit.toplevel, unit))
    return out


def target_modules(target: Target, overrides: dict[str, int] | None = None) -> list[ModuleInfo]:
    """The modules of a target's files; ``overrides`` apply to its top module only."""
    return [m for f in target.files for m in file_modules(f, overrides, target.top)]


def top_module(unit: RtlUnit, rtl_dir: Path | None = None, overrides: dict[str, int] | None = None) -> ModuleInfo:
    """The unit's top module as declared in its sources."""
    target = Target(unit.name, [(rtl_dir or RTL_DIR) / s for s in unit.sources], unit.toplevel, unit)
    for m in target_modules(target, overrides):
        if m.name == unit.toplevel:
            return m
    raise InputError("unit", f"unit '{unit.name}': no module '{unit.toplevel}' in {', '.join(unit.sources)}.")


def parse_param_args(items: list[str] | None) -> dict[str, int]:
    """``["R=4", "WBITS=0x2"]`` -> ``{"R": 4, "WBITS": 2}``; a malformed item is an ``InputError``."""
    out: dict[str, int] = {}
    for item in items or ():
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", key):
            raise InputError("param", f"--param must look like NAME=INTEGER, got '{item}'.")
        try:
            out[key] = int(value, 0)
        except ValueError:
            raise InputError("param", f"--param {key} must be an integer, got '{value}'.") from None
    return out
