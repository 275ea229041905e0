"""Per-element error bounds from the float64 oracle: its derivatives, and its own algorithm perturbed.

The default tolerance of ``npext.testing``: each element of a result (an
output of the Function, or the gradient of an argument) may differ from the
float64 oracle's by

    allowed_i = eps(dtype) * scale_i + FLOOR * tiny(dtype)

where ``dtype`` is the result's dtype (float16 and bfloat16: see ``Bound``)
and ``scale_i``, in units of eps, is computed once per case by
``oracle_result``, in float64, as the larger of two terms:

JACOBIAN TERM (a rounding analysis of the map itself, any algorithm):

* an OUTPUT element R_i = f_i(z), z the floating tensor arguments:

      C1 * m_i * (|J| |z|)_i + C2 * |R_i|

  with J the Jacobian of that output w.r.t. all of z, (|J||z|)_i =
  sum_j |J_ij| |z_j| and m_i the number of nonzero J_ij (the inputs that
  element actually combines);

* a GRADIENT element G_j = sum_i J_ij g_i (summed over the differentiable
  outputs, g their grad_outputs):

      C1 * max(mJ_j, mH_j) * max(TJ_j, TH_j) + C2 * |G_j|

  with TJ_j = sum_i |J_ij| |g_i| and mJ_j the number of nonzero J_ij over
  i (the terms the backward sums), and TH_j = sum_k |H_jk| |z_k|, mH_j the
  number of nonzero H_jk, H = dG/dz = the Hessian of <g, f(z)> (how the
  Jacobian entries the backward uses move with its inputs; 0 for maps
  linear in each argument, such as a cumsum).

PERTURBED TERM (the oracle's own algorithm): PERTURBED_FACTOR times the
largest deviation of the oracle's forward and autograd backward, in
PERTURBED_SAMPLES runs where every rounding operation's result is moved by
+-1 rounding (a TorchDispatchMode; random signs, seeded): |out| for
arithmetic, gamma_m sum |terms| for sums, matmuls, convolutions and
cumulative sums, 3n |A^-1|(|L||U||X| + |B|) for LU solves, and the
condition number |x f'(x)| + |f(x)| for special functions; composite
kernels (softmax, layer norm, logsumexp, variance) run through their
decompositions. This is Monte Carlo arithmetic (Parker, Stott and
Langdon, 1997) with each perturbation as large as the rounding it stands
for.

Derivation of the Jacobian term (u = eps/2, the unit roundoff; gamma_m =
m u / (1 - m u) ~ m u):

1. A sum of m products, in any order, errs by at most gamma_m sum |terms|
   (Higham, Accuracy and Stability, 3.1). For a linear map the terms are
   J_ij z_j: the error is <= (m_i u) (|J||z|)_i. More generally, a
   componentwise backward stable computation of R returns f(z + dz) with
   |dz| <= gamma_m |z|, which is off by (|J||dz|)_i <= m_i u (|J||z|)_i: the
   same bound, which also carries a condition number (a solve's J term is
   |A^-1||b| + |A^-1||A||x|, Skeel's) and a chain of products of one input
   (x**k: |J||z| = k|R|).
2. A gradient rounds twice: its own sum of mJ_j products (<= mJ_j u TJ_j)
   and the Jacobian entries it uses, computed from z (backward stable:
   <= mH_j u TH_j, the first-order change of G under |dz| <= gamma |z|).
   Both are <= M u T with M, T the larger count and sum, so the gradient
   errs by at most 2 M u T = M eps T. Taking the larger of each pair instead
   of adding the products keeps a bilinear map sharp: for a = g @ b.T both
   pairs are the same sum of the same products, counted once.
3. The comparison is with the float64 oracle, which errs by the same bound
   in float64: for float64 results the two errors add, so C1 = 2 makes
   ``eps * C1 * M * T`` = 2 (M eps T) exactly the worst case of both
   together, and for float32 (the oracle's error is 2**-29 smaller) a factor
   2 to spare. An output of a bilinear map (a matmul) counts each product
   twice in both |J||z| and m: its bound is 4 times looser than its gamma.
4. C2 * |R_i| = 16 u |R_i| covers what the sum bound does not: the final
   rounding or a cast from a wider accumulator (u), a transcendental
   function's few ulps on each side (Cephes' i0 is within 2.6 eps |R|, so
   SciPy's and torch's float64 i0 differ by up to 4 eps |R|, measured), and
   a gradient's product with a rounded forward value.
5. FLOOR * tiny(dtype): results at the underflow threshold. With gradual
   underflow each operation errs by at most tiny * eps / 2 in absolute
   terms, so any realistic number of them stays below tiny(dtype).

Why both terms: the Jacobian term bounds any componentwise backward stable
algorithm, but a backward formula that cancels inside a Jacobian entry is
not one: a layer norm's (n g_j - sum g - y_j sum g y) / (n sigma) on
[0, ..., 0, 0.5] (a Hypothesis draw) errs 235 times its Jacobian bound in
float64, a softmax's p (g - sum p g) at logits 40 apart 2.4 times. The
perturbed term sees those cancellations where the oracle's algorithm has
them too, and alone it misses what has no rule (a Cholesky, an SVD: their
rounding is ``|out|`` only). Where both are taken, a result is allowed the
larger.

Assumptions (what "correct" means for this bound): the Function computes in
its result's dtype (or wider) with a componentwise backward stable
algorithm, or with the oracle's own formulas: direct sums in any order, LU
with pivoting on a well-conditioned matrix, libm functions. A
normwise-stable algorithm (an FFT convolution, Strassen) can err on a small
element by the size of the largest: declare ``normwise()``. A Function with
an error bound of its own (an iterative solver's tolerance, a known
condition number beyond what the Jacobian shows) composes it with
``scaled`` and ``plus``.

Cost: the Jacobian term needs every row of J (one vjp per output element,
vmapped over chunks of one-hot cotangents and reduced at once, so memory
stays at ``CHUNK_BYTES``) and, for gradients, every row of H (one vjp of
the vjp per argument element, skipped where a random probe of H is zero).
For a 64x64 matmul that is 4096 + 8192 rows of 8192: 0.3 s on two cores;
it grows as (elements)**2, so beyond ``JACOBIAN_BUDGET`` entries the
perturbed term is taken alone (4 forward and backward runs under the
mode: milliseconds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch.utils._python_dispatch import TorchDispatchMode

#: The constants of the bound (see the module docstring).
C1 = 2.0
C2 = 8.0
FLOOR = 4.0

#: The largest block of a Jacobian (rows x inputs, float64) held at once.
CHUNK_BYTES = 32 * 2**20
#: The most Jacobian and Hessian entries ``oracle_result`` computes by default (see its ``jacobian``).
JACOBIAN_BUDGET = 2**27

_DOUBLE = torch.float64


def eps(dtype: torch.dtype) -> float:
    """The machine epsilon of a floating dtype (2**-52 for float64, 2**-23 for float32)."""
    return torch.finfo(dtype).eps


def _floating(value) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype.is_floating_point


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


# ---------------------------------------------------------------- the bound and its helpers


@dataclass(frozen=True)
class Bound:
    """How a scale becomes an allowed error: ``eps * factor * scale + floor (+ rtol |expected| + atol)``.

    The default, ``DEFAULT_BOUND``, is ``factor=1`` and nothing else. Build
    others with the helpers, which compose: ``scaled(100, normwise())``.

    Half-precision results (float16, bfloat16) are taken to be computed in
    float32 and rounded once to their dtype, as torch's own half-precision
    ops are: ``eps(float32) * scale + eps(dtype) * |expected|``. A Function
    that accumulates in the half dtype itself declares
    ``accumulates_in_half()``: its sums are then allowed the half dtype's eps.
    """

    factor: float = 1.0
    normwise: bool = False
    rtol: float = 0.0
    atol: float = 0.0
    half_in_float32: bool = True

    def allowed(self, scale: torch.Tensor, dtype: torch.dtype, expected: torch.Tensor | None = None) -> torch.Tensor:
        """The largest error allowed at each element of a result of ``dtype``."""
        scale = scale.to(_DOUBLE) * self.factor
        if self.normwise and scale.numel():
            scale = scale.max().expand(scale.shape)
        if self.half_in_float32 and expected is not None and eps(dtype) > eps(torch.float32):
            # float32's sums and underflow, then one rounding to the dtype (to a subnormal at worst)
            floor = FLOOR * (torch.finfo(torch.float32).tiny + torch.finfo(dtype).tiny * eps(dtype))
            allowed = eps(torch.float32) * scale + eps(dtype) * expected.to(_DOUBLE).abs() + floor
        else:
            allowed = eps(dtype) * scale + FLOOR * torch.finfo(dtype).tiny
        if self.rtol and expected is not None:
            allowed = allowed + self.rtol * expected.to(_DOUBLE).abs()
        if self.atol:
            allowed = allowed + self.atol
        return allowed


DEFAULT_BOUND = Bound()

#: The tolerance an entry gets when it declares none: the per-element bound, as is.
default_tolerance = DEFAULT_BOUND


def sum_tolerance(dtype: torch.dtype, n_terms: int) -> dict:
    """``dict(rtol=4 n eps, atol=4 n**2 eps)``: a tolerance of your own for sums of up to n products in [-1, 1].

    Such a sum is at most n in size and off by at most n eps times the sum of
    its terms' sizes (recursive summation): n**2 eps; the factor 4 covers the
    oracle's own rounding and a last addition or cast. For
    ``torch.testing.assert_close``, or as an entry's own ``tolerance(dtype,
    *args)`` where every element sums n terms (npext's own entries build
    theirs from it, per element of the problem).
    """
    e = 4 * eps(dtype)
    return {"rtol": n_terms * e, "atol": n_terms * n_terms * e}


def scaled(factor: float, bound: Bound = DEFAULT_BOUND) -> Bound:
    """``bound`` with every allowed error (above the floor) multiplied by ``factor``.

    For what the Jacobian does not show: a condition number the case draws
    but the oracle's derivatives understate, a long chain of rounded steps
    (an iteration count), a Function that rounds to a narrower dtype on
    purpose (``scaled(2**13)`` allows float32 inputs float16's precision).
    """
    if not factor > 0:
        raise ValueError(f"factor must be > 0, got {factor!r}")
    return replace(bound, factor=bound.factor * factor)


def normwise(bound: Bound = DEFAULT_BOUND) -> Bound:
    """``bound`` with every element of a result allowed the largest allowed error of that result.

    For algorithms that are stable in norm but not per element: an FFT
    convolution, Strassen, a blocked or tree reduction that mixes elements
    of different size. A small element may then be off by what the largest
    is allowed.
    """
    return replace(bound, normwise=True)


def plus(*, rtol: float = 0.0, atol: float = 0.0, bound: Bound = DEFAULT_BOUND) -> Bound:
    """``bound`` plus ``rtol * |expected| + atol``: an error of a known size of its own.

    An iterative method's stopping tolerance, an approximation (a series
    truncated at 1e-7), a documented accuracy ("within 2 ulp": ``rtol=2 *
    eps``). Both add to the default, never replace it.
    """
    if rtol < 0 or atol < 0:
        raise ValueError(f"rtol and atol must be >= 0, got {rtol!r}, {atol!r}")
    return replace(bound, rtol=bound.rtol + rtol, atol=bound.atol + atol)


def accumulates_in_half(bound: Bound = DEFAULT_BOUND) -> Bound:
    """``bound`` for a Function whose float16/bfloat16 results are summed in that dtype (NumPy's float16
    cumsum): every rounding is allowed the half dtype's eps, not only the last."""
    return replace(bound, half_in_float32=False)


def allowed_error(
    scale: torch.Tensor, dtype: torch.dtype, *, bound: Bound = DEFAULT_BOUND, expected: torch.Tensor | None = None
) -> torch.Tensor:
    """``eps(dtype) * scale + FLOOR * tiny(dtype)`` (the default ``bound``), elementwise, float64.

    (For float16 and bfloat16 with ``expected`` given: ``eps(float32) * scale + eps(dtype) *
    |expected|``, see ``Bound``.)
    """
    return bound.allowed(scale, dtype, expected)


# ---------------------------------------------------------------- comparing


def ratios(actual: torch.Tensor, expected: torch.Tensor, allowed) -> tuple:
    """(|actual - expected| / allowed element by element, |actual - expected|), float64 on the CPU.

    ``allowed=None``, or an integer or bool result (indices, masks), asks for
    equality: the ratio is 0 where equal and inf where not. Non-finite
    expected values must be matched exactly (nan by nan); a nan where a
    number was expected is inf.
    """
    actual = actual.detach().cpu()
    expected = expected.detach().cpu()
    if allowed is None or not _floating(actual) or not _floating(expected):
        if _floating(actual) or _floating(expected):
            a, e = actual.to(_DOUBLE), expected.to(_DOUBLE)
            unequal = (a != e) & ~(a.isnan() & e.isnan())
            difference = (a - e).abs()
        else:
            unequal = actual != expected
            difference = unequal.to(_DOUBLE)
        return torch.where(unequal, math.inf, 0.0).to(_DOUBLE), difference
    a = actual.to(_DOUBLE)
    e = expected.to(_DOUBLE)
    allowed = torch.as_tensor(allowed, dtype=_DOUBLE).detach().cpu().expand_as(a)
    difference = (a - e).abs()
    ratio = torch.where(difference == 0, torch.zeros_like(difference), difference / allowed)
    ratio = torch.where(e.isfinite(), ratio, torch.where((a == e) | (a.isnan() & e.isnan()), 0.0, math.inf))
    ratio = torch.where(ratio.isnan(), math.inf, ratio)
    return ratio, difference


def error_ratio(actual, expected, scale, *, bound: Bound = DEFAULT_BOUND) -> float:
    """The largest |actual - expected| / allowed over the elements: below 1 passes (0 for an empty result).

    The margin a correct Function runs at, for a result of ``actual``'s
    dtype whose oracle scale is ``scale`` (None: compared exactly).
    """
    if tuple(actual.shape) != tuple(expected.shape):
        return math.inf
    allowed = None if scale is None else bound.allowed(scale.detach().cpu(), actual.dtype, expected.to(_DOUBLE))
    ratio = ratios(actual, expected, allowed)[0]
    return float(ratio.max()) if ratio.numel() else 0.0


# ---------------------------------------------------------------- the oracle's result and scales


@dataclass(frozen=True)
class OracleResult:
    """The oracle's outputs and gradients on one case, in float64, each with its elementwise scale.

    ``outputs``: every output of the oracle (a single output is a 1-tuple),
    float64 if floating, in its own dtype otherwise. ``output_scales``: per
    output, the scale tensor (``None`` for non-floating outputs: compared
    exactly). ``gradients``: per differentiable argument (the real floating
    tensors among args, in order), the gradient through all outputs that
    have a grad_output; ``gradient_scales`` their scales.
    ``gradients_by_output[k][j]`` / ``gradient_scales_by_output[k][j]``: the
    same through output k alone (``None`` where output k has no
    grad_output). The gradient fields are empty tuples when
    ``oracle_result`` was called with ``gradients=False``. ``method``: the
    terms the scales hold, 'jacobian+perturbed' (or one of them; 'exact'
    where nothing is differentiated).
    """

    outputs: tuple
    output_scales: tuple
    gradients: tuple
    gradient_scales: tuple
    gradients_by_output: tuple
    gradient_scales_by_output: tuple
    method: str = "jacobian+perturbed"


def _chunk_rows(*widths: int) -> int:
    return max(1, CHUNK_BYTES // (8 * max(1, *widths)))


#: Below this share of nonzero entries a block of rows is reduced through its nonzeros only.
SPARSE_BELOW = 0.25


def _reduce(block: torch.Tensor, abs_columns: torch.Tensor, weights: torch.Tensor | None, sparse: bool):
    """(row sums of |block| @ abs_columns, row nonzero counts, weights @ |block|, column nonzero counts).

    ``block``: (rows, n) float64. The column terms are None without ``weights``.
    """
    rows, n = block.shape
    if sparse:
        r, c = block.nonzero(as_tuple=True)
        values = block[r, c].abs()
        row_sum = torch.bincount(r, weights=values * abs_columns[c], minlength=rows).to(_DOUBLE)
        row_count = torch.bincount(r, minlength=rows).to(_DOUBLE)
        if weights is None:
            return row_sum, row_count, None, None
        col_sum = torch.bincount(c, weights=values * weights[r], minlength=n).to(_DOUBLE)
        col_count = torch.bincount(c, minlength=n).to(_DOUBLE)
        return row_sum, row_count, col_sum, col_count
    magnitude = block.abs()
    row_sum = magnitude @ abs_columns
    row_count = torch.count_nonzero(block, dim=1).to(_DOUBLE)
    if weights is None:
        return row_sum, row_count, None, None
    return row_sum, row_count, weights @ magnitude, torch.count_nonzero(block, dim=0).to(_DOUBLE)


def _sweep(vjp_fn, targets: tuple, k: int, abs_inputs: list, weights: torch.Tensor | None, state: dict):
    """Reduce every row of the Jacobian of ``targets[k]`` (w.r.t. the inputs of ``vjp_fn``) as it is made.

    Row i of the Jacobian is ``vjp_fn`` of the one-hot cotangent on element i
    of targets[k]; chunks of rows are made by torch.func.vmap (a loop of
    single vjps where the function does not vmap: then ``state['loop']`` is
    set for later sweeps) and reduced at once, so no more than
    ``CHUNK_BYTES`` of the Jacobian exist at a time. Returns ``(row_sum,
    row_count, col_sums, col_counts)``: per element of targets[k],
    sum_j |J_ij| abs_inputs_j and the count of nonzero J_ij; per input, a
    list over inputs of sum_i weights_i |J_ij| and the count of nonzero
    J_ij over i (None without ``weights``).
    """
    target = targets[k]
    n_out = target.numel()
    widths = [a.numel() for a in abs_inputs]
    row_sum = torch.zeros(n_out, dtype=_DOUBLE)
    row_count = torch.zeros(n_out, dtype=_DOUBLE)
    col_sums = [torch.zeros(w, dtype=_DOUBLE) for w in widths] if weights is not None else None
    col_counts = [torch.zeros(w, dtype=_DOUBLE) for w in widths] if weights is not None else None
    if n_out == 0 or sum(widths) == 0:
        return row_sum, row_count, col_sums, col_counts
    step = min(n_out, _chunk_rows(sum(widths), n_out))
    hot = torch.zeros(step, n_out, dtype=_DOUBLE)
    others = tuple(torch.zeros_like(t) for t in targets)
    in_dims = (tuple(0 if i == k else None for i in range(len(targets))),)
    sparse = [None] * len(widths)
    for start in range(0, n_out, step):
        stop = min(start + step, n_out)
        count = stop - start
        diagonal = (torch.arange(count), torch.arange(start, stop))
        hot[diagonal] = 1
        cotangent = hot[:count].view(count, *target.shape)
        blocks = None
        if not state.get("loop"):
            try:
                cotangents = tuple(cotangent if i == k else o for i, o in enumerate(others))
                blocks = torch.func.vmap(vjp_fn, in_dims=in_dims)(cotangents)
            except Exception:  # a user's oracle that does not vmap: loop instead
                state["loop"] = True
        if blocks is None:
            single = [vjp_fn(tuple(row if i == k else o for i, o in enumerate(others))) for row in cotangent]
            blocks = tuple(torch.stack([s[j] for s in single]) for j in range(len(widths)))
        hot[diagonal] = 0
        for j, block in enumerate(blocks):
            block = block.detach().reshape(count, widths[j]).to(_DOUBLE)
            if sparse[j] is None:
                sparse[j] = int(torch.count_nonzero(block)) < SPARSE_BELOW * block.numel()
            w = None if weights is None else weights[start:stop]
            rs, rc, cs, cc = _reduce(block, abs_inputs[j], w, sparse[j])
            row_sum[start:stop] += rs
            row_count[start:stop] += rc
            if weights is not None:
                col_sums[j] += cs
                col_counts[j] += cc
    return row_sum, row_count, col_sums, col_counts


class _Oracle:
    """The oracle as a function of the float64 copies of its floating tensor arguments."""

    def __init__(self, oracle, args, kwargs):
        self.oracle = oracle
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.positions = [i for i, a in enumerate(self.args) if _floating(a)]
        self.inputs = tuple(self.args[i].detach().to(_DOUBLE, copy=True) for i in self.positions)

    def call(self, *inputs):
        full = list(self.args)
        for position, value in zip(self.positions, inputs, strict=True):
            full[position] = value
        return _as_tuple(self.oracle(*full, **self.kwargs))

    def floating(self, *inputs):
        """(floating outputs in float64, the other outputs): for torch.func.vjp(..., has_aux=True)."""
        outputs = self.call(*inputs)
        return (
            tuple(o.to(_DOUBLE) for o in outputs if _floating(o)),
            tuple(o for o in outputs if not _floating(o)),
        )


def _vjp_or_zeros(outputs, leaves, cotangents, **options) -> tuple:
    """torch.autograd.grad of the outputs that require grad, zeros for every leaf none of them reach."""
    used = [(o, c) for o, c in zip(outputs, cotangents, strict=True) if o.requires_grad]
    if not used:
        return tuple(torch.zeros_like(x) for x in leaves)
    grads = torch.autograd.grad([o for o, _ in used], leaves, [c for _, c in used], allow_unused=True, **options)
    return tuple(torch.zeros_like(x) if g is None else g for g, x in zip(grads, leaves, strict=True))


def _vjp(function, inputs, loop_state):
    """torch.func.vjp, or autograd's (for oracles torch.func cannot trace) where it fails."""
    if not loop_state.get("autograd"):
        try:
            return torch.func.vjp(function, *inputs, has_aux=True)
        except Exception:
            loop_state["autograd"] = True
            loop_state["loop"] = True
    leaves = tuple(x.detach().requires_grad_() for x in inputs)
    with torch.enable_grad():
        outputs, aux = function(*leaves)

    def vjp_fn(cotangents):
        return _vjp_or_zeros(outputs, leaves, cotangents, retain_graph=True)

    return tuple(o.detach() for o in outputs), vjp_fn, aux


def oracle_result(
    oracle,
    args: tuple,
    grad_outputs=None,
    kwargs: dict | None = None,
    *,
    gradients: bool = True,
    jacobian: bool | None = None,
    perturbed: bool = True,
):
    """Evaluate ``oracle`` in float64 on ``args`` and derive every result's scale (see the module docstring).

    ``args``: the case's arguments, any dtypes; real floating tensors are
    copied to float64 and differentiated, everything else (ints, integer
    tensors) is passed through. ``grad_outputs``: a tuple aligned with the
    oracle's outputs (a single tensor for a single output), ``None`` for an
    output not to differentiate (it is ignored for non-floating outputs).
    ``gradients=False``: outputs and their scales only (half the cost or
    less). ``jacobian``: take the Jacobian (and Hessian) terms; by default
    where their rows hold at most ``JACOBIAN_BUDGET`` entries in all (a
    64x64 matmul's 4096 + 8192 rows of 8192 do), beyond that the perturbed
    evaluations alone. ``perturbed``: take the perturbed evaluations' term.
    Returns an ``OracleResult``.
    """
    state = _Oracle(oracle, args, kwargs)
    z = state.inputs
    with torch.no_grad():
        raw = state.call(*z)
    kinds = [_floating(o) for o in raw]
    floating_index = [k for k, is_float in enumerate(kinds) if is_float]
    if grad_outputs is None:
        grad_outputs = (None,) * len(raw)
    grad_outputs = _as_tuple(grad_outputs)
    if len(grad_outputs) != len(raw):
        raise ValueError(f"{len(grad_outputs)} grad_outputs for {len(raw)} outputs of the oracle")
    # per floating output (in floating_index order): its cotangent, or None
    cotangents = [
        None if grad_outputs[k] is None else grad_outputs[k].detach().to(_DOUBLE).expand(raw[k].shape)
        for k in floating_index
    ]
    n_in = sum(x.numel() for x in z)
    loop_state: dict = {}

    if not z or not floating_index:
        outputs = tuple(o.to(_DOUBLE) if _floating(o) else o for o in raw)
        scales = tuple(C2 * o.abs() if _floating(o) else None for o in outputs)
        empty = tuple(torch.zeros_like(x) for x in z)
        by_output = tuple(
            empty if is_float and grad_outputs[k] is not None else None for k, is_float in enumerate(kinds)
        )
        if not gradients:
            return OracleResult(outputs, scales, (), (), (), (), "exact")
        return OracleResult(outputs, scales, empty, empty, by_output, by_output, "exact")

    targets, vjp_fn, _ = _vjp(state.floating, z, loop_state)
    targets = tuple(t.detach() for t in targets)
    abs_z = [x.abs().reshape(-1) for x in z]
    want = [gradients and c is not None for c in cotangents]
    if jacobian is None:
        entries = sum(t.numel() for t in targets) * n_in + (n_in * n_in * sum(want) if gradients else 0)
        jacobian = entries <= JACOBIAN_BUDGET
    if not jacobian and not perturbed:
        raise ValueError("oracle_result needs the jacobian or the perturbed term, or both")
    method = "+".join(name for name, used in (("jacobian", jacobian), ("perturbed", perturbed)) if used)

    # ---- pass 1: the rows of J, reduced into output scales and gradient column sums
    out_sum, out_count, col_sum, col_count = [], [], [], []
    for k in range(len(targets)):
        weights = cotangents[k].abs().reshape(-1) if want[k] else None
        if jacobian:
            rs, rc, cs, cc = _sweep(vjp_fn, targets, k, abs_z, weights, loop_state)
        else:
            rs = rc = torch.zeros(targets[k].numel(), dtype=_DOUBLE)
            cs = cc = None if weights is None else [torch.zeros(x.numel(), dtype=_DOUBLE) for x in z]
        out_sum.append(rs)
        out_count.append(rc)
        col_sum.append(cs)
        col_count.append(cc)
    deviation = _perturbed_deviation(state, z, cotangents, want, gradients) if perturbed else None

    def widened(scale, index, j=None):
        """scale, or PERTURBED_FACTOR times the perturbed oracle's deviation where that is larger."""
        if deviation is None or deviation[index] is None:
            if not jacobian:
                raise RuntimeError(
                    f"oracle_result: the oracle cannot run perturbed (under a TorchDispatchMode), and its "
                    f"Jacobian is beyond JACOBIAN_BUDGET ({JACOBIAN_BUDGET} entries): pass jacobian=True"
                )
            return scale
        found = deviation[index][j] if j is not None else deviation[index]
        return torch.maximum(scale, PERTURBED_FACTOR * found.view(scale.shape))

    output_scales_f = [
        widened((C1 * out_count[k] * out_sum[k]).view(t.shape) + C2 * t.abs(), 0, k) for k, t in enumerate(targets)
    ]
    outputs, output_scales, f = [], [], 0
    for k, o in enumerate(raw):
        if kinds[k]:
            outputs.append(targets[f])
            output_scales.append(output_scales_f[f])
            f += 1
        else:
            outputs.append(o)
            output_scales.append(None)
    if not gradients:
        return OracleResult(tuple(outputs), tuple(output_scales), (), (), (), (), method)

    # ---- the gradients, and pass 2: the rows of H = d(J^T g)/dz, per output with a cotangent
    def zero_cotangents():
        return [torch.zeros_like(t) for t in targets]

    by_output, by_output_scales = [], []
    total_col_sum = [torch.zeros(x.numel(), dtype=_DOUBLE) for x in z]
    total_col_count = [torch.zeros(x.numel(), dtype=_DOUBLE) for x in z]
    total_h_sum = [torch.zeros(x.numel(), dtype=_DOUBLE) for x in z]
    total_h_count = [torch.zeros(x.numel(), dtype=_DOUBLE) for x in z]
    for k in range(len(targets)):
        if not want[k]:
            by_output.append(None)
            by_output_scales.append(None)
            continue
        cot = zero_cotangents()
        cot[k] = cotangents[k]
        cot = tuple(cot)
        grads = tuple(g.detach() for g in vjp_fn(cot))
        if jacobian:
            h_sum, h_count = _hessian_rows(state, z, cot, abs_z, loop_state)
        else:
            h_sum = h_count = [torch.zeros(x.numel(), dtype=_DOUBLE) for x in z]
        scales = []
        for j, (g, x) in enumerate(zip(grads, z, strict=True)):
            m = torch.maximum(col_count[k][j], h_count[j])
            t = torch.maximum(col_sum[k][j], h_sum[j])
            scales.append(widened((C1 * m * t).view(x.shape) + C2 * g.abs(), 1 + k, j))
            total_col_sum[j] += col_sum[k][j]
            total_col_count[j] += col_count[k][j]
            total_h_sum[j] += h_sum[j]
            total_h_count[j] += h_count[j]
        by_output.append(grads)
        by_output_scales.append(tuple(scales))
    all_cot = tuple(c if w else torch.zeros_like(t) for c, w, t in zip(cotangents, want, targets, strict=True))
    total = tuple(g.detach() for g in vjp_fn(all_cot)) if any(want) else tuple(torch.zeros_like(x) for x in z)
    total_scales = tuple(
        widened(
            (
                C1
                * torch.maximum(total_col_count[j], total_h_count[j])
                * torch.maximum(total_col_sum[j], total_h_sum[j])
            ).view(x.shape)
            + C2 * g.abs(),
            1 + len(targets),
            j,
        )
        for j, (g, x) in enumerate(zip(total, z, strict=True))
    )

    def in_output_order(values):
        result, f = [], 0
        for is_float in kinds:
            if is_float:
                result.append(values[f])
                f += 1
            else:
                result.append(None)
        return tuple(result)

    return OracleResult(
        tuple(outputs),
        tuple(output_scales),
        total,
        total_scales,
        in_output_order(by_output),
        in_output_order(by_output_scales),
        method,
    )


def _hessian_rows(state: _Oracle, z: tuple, cotangents: tuple, abs_z: list, loop_state: dict):
    """Per argument j: (sum_k |H_jk| |z_k|, count of nonzero H_jk) for G(z) = J(z)^T cotangents.

    H = dG/dz. A block of rows (one argument's) is swept only where a
    random combination of its rows is nonzero: for a map linear in its
    arguments (a cumsum) the pass costs one probe. Where the oracle has no
    second derivative (neither torch.func nor autograd can take it), H's
    terms are zero: the bound then treats the Jacobian's entries as exact,
    as for a linear map.
    """
    sums = [torch.zeros(x.numel(), dtype=_DOUBLE) for x in z]
    counts = [torch.zeros(x.numel(), dtype=_DOUBLE) for x in z]
    use_func = not loop_state.get("autograd")
    if use_func:

        def gradient(*inputs):
            _, fn, _ = torch.func.vjp(state.floating, *inputs, has_aux=True)
            return tuple(fn(cotangents)), ()

        try:
            values, hvjp, _ = torch.func.vjp(gradient, *z, has_aux=True)
        except Exception:
            use_func = False
    if not use_func:
        try:
            values, hvjp = _autograd_hessian(state, z, cotangents)
        except Exception:
            return sums, counts
    values = tuple(v.detach() for v in values)
    h_state = {"loop": loop_state.get("loop", False)}
    generator = torch.Generator().manual_seed(0)
    try:
        for j in range(len(z)):
            probe = tuple(
                torch.rand(v.shape, dtype=_DOUBLE, generator=generator) + 0.5 if i == j else torch.zeros_like(v)
                for i, v in enumerate(values)
            )
            if not any(bool(p.detach().ne(0).any()) for p in hvjp(probe)):
                continue
            rs, rc, _, _ = _sweep(hvjp, values, j, abs_z, None, h_state)
            sums[j] += rs
            counts[j] += rc
    except Exception:  # no second derivative: first-order terms only
        return [s.zero_() for s in sums], [c.zero_() for c in counts]
    return sums, counts


def _autograd_hessian(state: _Oracle, z: tuple, cotangents: tuple):
    """G(z) = J^T cotangents with create_graph, and a vjp of it, by torch.autograd (no torch.func)."""
    leaves = tuple(x.detach().requires_grad_() for x in z)
    with torch.enable_grad():
        outputs, _ = state.floating(*leaves)
        grads = _vjp_or_zeros(outputs, leaves, cotangents, create_graph=True)

    def hvjp(cots):
        return _vjp_or_zeros(grads, leaves, cots, retain_graph=True)

    return grads, hvjp


# ---------------------------------------------------------------- the oracle's own algorithm, perturbed

#: Relative size of the perturbations (a virtual precision between float32's and float64's).
PERTURBATION = 2.0**-30
#: The rounding operations are perturbed in at most this many groups, each alone, in PERTURBED_SAMPLES
#: runs; the sum over groups of the largest deviation, times PERTURBED_FACTOR, bounds the rounding.
PERTURBED_GROUPS = 12
PERTURBED_SAMPLES = 3
PERTURBED_FACTOR = 4.0

_EXACT = {
    # ops that select, move or copy values (or compare them): no rounding
    "detach",
    "clone",
    "_to_copy",
    "copy",
    "alias",
    "lift_fresh",
    "lift_fresh_copy",
    "contiguous",
    "index",
    "index_select",
    "gather",
    "take",
    "cat",
    "stack",
    "flip",
    "roll",
    "repeat",
    "tril",
    "triu",
    "where",
    "masked_fill",
    "sort",
    "topk",
    "max",
    "min",
    "amax",
    "amin",
    "maximum",
    "minimum",
    "fmax",
    "fmin",
    "relu",
    "abs",
    "neg",
    "sign",
    "sgn",
    "clamp",
    "clamp_min",
    "clamp_max",
    "floor",
    "ceil",
    "round",
    "trunc",
    "zeros_like",
    "ones_like",
    "empty_like",
    "full_like",
    "zeros",
    "ones",
    "empty",
    "full",
    "fill",
    "scalar_tensor",
    "new_zeros",
    "new_ones",
    "new_empty",
    "new_full",
    "new_empty_strided",
    "empty_strided",
    "arange",
    "linspace",
    "eye",
    "scatter",
    "select_scatter",
    "slice_scatter",
    "diagonal_scatter",
    "as_strided_scatter",
    "select_backward",
    "slice_backward",
    "diagonal_backward",
    "constant_pad_nd",
    "threshold_backward",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "isnan",
    "isinf",
    "isfinite",
    "logical_not",
    "logical_and",
    "logical_or",
    "argmax",
    "argmin",
    "argsort",
    "nonzero",
    "masked_select",
    "diag_embed",
    "embedding",
    "unfold",
    "_unsafe_view",
    "view",
    "reshape",
    "expand",
    "permute",
    "transpose",
    "t",
    "squeeze",
    "unsqueeze",
    "select",
    "slice",
    "as_strided",
    "split",
    "split_with_sizes",
    "unbind",
    "chunk",
    "narrow",
    "diagonal",
    "sym_size",
    "sym_stride",
    "sym_numel",
    "sym_storage_offset",
    "_local_scalar_dense",
    "item",
    "is_same_size",
}
#: Composite kernels run through their decomposition, so that the sums and cancellations inside
#: them (a normalization's mean and variance, a softmax's sum) are perturbed one by one.
_DECOMPOSE = {
    "native_layer_norm",
    "native_layer_norm_backward",
    "native_batch_norm",
    "native_batch_norm_backward",
    "native_group_norm",
    "native_group_norm_backward",
    "_softmax",
    "_log_softmax",
    "_softmax_backward_data",
    "_log_softmax_backward_data",
    "logsumexp",
    "var",
    "std",
    "var_mean",
    "std_mean",
    "linalg_vector_norm",
    "norm",
    "logaddexp",
    "logaddexp2",
    "mse_loss",
    "mse_loss_backward",
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits",
    "huber_loss",
    "smooth_l1_loss",
    "cosine_similarity",
    "pdist",
    "cdist",
    "_cdist_forward",
    "dist",
    "renorm",
    "layer_norm",
    "group_norm",
    "batch_norm",
    "instance_norm",
    "softmax",
    "log_softmax",
    "cross_entropy_loss",
    "nll_loss_forward",
    "nll_loss_backward",
    "addcmul",
    "addcdiv",
    "lerp",
    "hypot",
    "trace",
    "einsum",
    "tensordot",
    "bilinear",
}


def _abs(value):
    return value.abs() if isinstance(value, torch.Tensor) and value.dtype.is_floating_point else value


def _reduced(value, out) -> float:
    return value.numel() / max(out.numel(), 1)


def _amplitude(name: str, func, args, kwargs, out):
    """The size of one rounding (in units of the unit roundoff) of each element of ``out``: |out|, or the
    gamma_m sum |terms| of a reduction, as a tensor (or a tuple, for ops with several outputs)."""
    a = [_abs(x) for x in args]
    if name in ("sum", "nansum", "mean"):
        return _reduced(args[0], out) * func(*a, **kwargs).abs()
    if name == "cumsum":
        if not args[0].dim():
            return out.abs()
        dim = (args[1] if len(args) > 1 else kwargs["dim"]) % args[0].dim()
        shape = [1] * args[0].dim()
        shape[dim] = args[0].shape[dim]
        counts = torch.arange(1, args[0].shape[dim] + 1, dtype=out.dtype).view(shape)
        return counts * func(*a, **kwargs)  # element i of a cumulative sum adds i + 1 terms
    if name in ("mm", "bmm", "mv", "dot", "vdot", "matmul", "inner", "outer"):
        return (args[0].shape[-1] if args[0].dim() else 1) * func(*a, **kwargs)
    if name in ("addmm", "addmv", "baddbmm", "addbmm", "addr"):
        scalars = {k: abs(v) for k, v in kwargs.items()}
        return (args[1].shape[-1] + 1) * func(*a, **scalars)
    if name == "convolution":
        weight, transposed = args[1], args[6]
        taps = weight.numel() // max(1, weight.shape[1 if transposed else 0])
        return (taps + 1) * func(*a, **kwargs)
    if name == "convolution_backward":
        grad_output, weight = args[0], args[2]
        per_batch = grad_output.numel() // max(1, grad_output.shape[1])
        taps = weight.numel() // max(1, min(weight.shape[0], weight.shape[1]))
        outs = func(*a, **kwargs)
        counts = (taps, per_batch, per_batch)
        return tuple(None if o is None else c * o for c, o in zip(counts, outs, strict=True))
    if name in ("prod", "cumprod"):
        return _reduced(args[0], out) * out.abs() if name == "prod" else args[0].numel() * out.abs()
    if name in ("_linalg_solve_ex", "linalg_solve_ex", "linalg_solve"):
        left = kwargs.get("left", args[2] if len(args) > 2 else True)
        solution = out[0] if isinstance(out, (tuple, list)) else out
        amplitude = _solve_amplitude(args[0], args[0].abs(), args[1], solution, left, False)
        return (amplitude, *([None] * (len(out) - 1))) if isinstance(out, (tuple, list)) else amplitude
    if name == "linalg_lu_solve":
        lu, pivots, rhs = args[:3]
        left = kwargs.get("left", args[3] if len(args) > 3 else True)
        adjoint = kwargs.get("adjoint", args[4] if len(args) > 4 else False)
        p, lower, upper = torch.lu_unpack(lu, pivots)
        matrix = p @ lower @ upper
        return _solve_amplitude(matrix, p @ (lower.abs() @ upper.abs()), rhs, out, left, adjoint)
    if torch.Tag.pointwise in func.tags and name not in _CORRECTLY_ROUNDED:
        return _pointwise_amplitude(func, args, kwargs, out)
    return None


#: Pointwise ops that IEEE arithmetic rounds correctly: one rounding, |out|.
_CORRECTLY_ROUNDED = {"add", "sub", "mul", "div", "sqrt", "reciprocal", "true_divide", "rsub", "square", "fma"}


def _pointwise_amplitude(func, args, kwargs, out):
    """|out| + sum over tensor inputs of |d out / d input * input|: a special function's implementation
    errs by its condition number times eps (argument reduction, a series in x**2). The derivative is a
    central difference over a relative step of 2**-20 (below autograd, where this runs, there is no AD)."""
    amplitude = out.abs()
    step = 2.0**-20
    for i, value in enumerate(args):
        if not (isinstance(value, torch.Tensor) and value.dtype.is_floating_point):
            continue
        moved = []
        for sign in (1, -1):
            full = list(args)
            full[i] = value * (1 + sign * step)
            moved.append(func(*full, **kwargs))
        change = ((moved[0] - moved[1]) / (2 * step)).abs()
        amplitude = amplitude + torch.nan_to_num(change, nan=0.0, posinf=0.0).expand_as(amplitude)
    return amplitude


def _solve_amplitude(matrix, factors_abs, rhs, solution, left, adjoint):
    """3n |A^-1| (|L||U| |X| + |B|): LU with pivoting's backward error (Higham 9.4) through A^-1."""
    inverse = torch.linalg.inv(matrix)
    if adjoint:
        inverse, factors_abs = inverse.mT, factors_abs.mT
    n = matrix.shape[-1]
    if left:
        return 3 * n * (inverse.abs() @ (factors_abs @ solution.abs() + rhs.abs()))
    return 3 * n * ((solution.abs() @ factors_abs + rhs.abs()) @ inverse.abs())


class _Perturb(TorchDispatchMode):
    """Counts the rounding operations (see _amplitude) and moves the results of those in one group.

    Operation number n belongs to group n % groups; with ``group`` None nothing moves (a counting run).
    A moved result is result + PERTURBATION * (+-1, random per element) * amplitude.
    """

    def __init__(self, generator: torch.Generator | None = None, group: int | None = None, groups: int = 1):
        super().__init__()
        self.generator, self.group, self.groups = generator, group, groups
        self.count = 0

    def _move(self, value, amplitude):
        if not (isinstance(value, torch.Tensor) and value.dtype.is_floating_point and value.numel()):
            return value
        if amplitude is None:
            amplitude = value.abs()
        signs = torch.randint(0, 2, value.shape, generator=self.generator, dtype=value.dtype) * 2 - 1
        return value + PERTURBATION * signs * torch.nan_to_num(amplitude, nan=0.0, posinf=0.0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        schema = func._schema
        if (
            schema.is_mutable
            or any(r.alias_info is not None for r in schema.returns)
            or name in _EXACT
            or name.startswith("_foreach")
        ):
            return func(*args, **kwargs)
        if name in _DECOMPOSE and func in _decompositions():
            try:
                with self:
                    return _decompositions()[func](*args, **kwargs)
            except Exception:  # run the kernel itself
                pass
        out = func(*args, **kwargs)
        number = self.count
        self.count += 1
        if self.group is None or number % self.groups != self.group:
            return out
        try:
            amplitude = _amplitude(name, func, args, kwargs, out)
        except Exception:
            amplitude = None
        if isinstance(out, (tuple, list)):
            amplitudes = amplitude if isinstance(amplitude, (tuple, list)) else (None,) * len(out)
            return type(out)(self._move(o, m) for o, m in zip(out, amplitudes, strict=True))
        return self._move(out, amplitude)


def _decompositions():
    from torch._decomp import decomposition_table

    return decomposition_table


def _perturbed_deviation(state: _Oracle, z: tuple, cotangents: list, want: list, gradients: bool):
    """How far the oracle's results move (in units of eps) when its rounding operations are perturbed.

    The operations of the oracle's forward and backward are split into
    groups (operation n in group n % groups, at most PERTURBED_GROUPS); each
    group is perturbed alone in PERTURBED_SAMPLES runs, and the largest
    deviation of each group's runs is added up over the groups. Perturbations
    of different groups cannot cancel each other, so with one operation a
    group this is Iri's first-order bound sum_ops |dR/dv| amplitude(v); the
    random signs within a group stand for independent roundings.

    Returns a list: [per floating output], then per floating output [per
    argument] (None without a cotangent), then [per argument] through all
    outputs with one. None where the oracle cannot run under the mode.
    """

    def run(mode):
        leaves = tuple(x.detach().clone().requires_grad_() for x in z)
        with torch.enable_grad(), mode:
            outputs, _ = state.floating(*leaves)
            results = [[o.detach() for o in outputs]]
            if not gradients:
                return results
            used = [k for k, w in enumerate(want) if w and outputs[k].requires_grad]
            for k in range(len(outputs)):
                if k in used:
                    grads = torch.autograd.grad(outputs[k], leaves, cotangents[k], retain_graph=True, allow_unused=True)
                    results.append(
                        [torch.zeros_like(x) if g is None else g.detach() for g, x in zip(grads, z, strict=True)]
                    )
                else:
                    results.append(None)
            if len(used) > 1:
                grads = torch.autograd.grad(
                    [outputs[k] for k in used], leaves, [cotangents[k] for k in used], allow_unused=True
                )
                results.append(
                    [torch.zeros_like(x) if g is None else g.detach() for g, x in zip(grads, z, strict=True)]
                )
            elif used:
                results.append(results[1 + used[0]])
            else:
                results.append([torch.zeros_like(x) for x in z])
        return results

    def moved(sample, reference):
        return [
            None if ref is None else [(s - r).abs() / PERTURBATION for s, r in zip(smp, ref, strict=True)]
            for ref, smp in zip(reference, sample, strict=True)
        ]

    def combine(op, first, second):
        return [
            None if a is None else [op(x, y) for x, y in zip(a, b, strict=True)]
            for a, b in zip(first, second, strict=True)
        ]

    try:
        counter = _Perturb()
        reference = run(counter)
        groups = max(1, min(counter.count, PERTURBED_GROUPS))
        generator = torch.Generator().manual_seed(0)
        total = None
        for group in range(groups):
            largest = None
            for _ in range(PERTURBED_SAMPLES):
                now = moved(run(_Perturb(generator, group, groups)), reference)
                largest = now if largest is None else combine(torch.maximum, largest, now)
            total = largest if total is None else combine(torch.add, total, largest)
    except Exception:  # an oracle that cannot run under the mode: Jacobian terms only
        return None
    # units of eps: one rounding is u = eps / 2
    return [None if d is None else [torch.nan_to_num(v, nan=0.0, posinf=0.0) / 2 for v in d] for d in total]
