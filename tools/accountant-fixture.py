"""Regenerate the reference values that test the privacy accountant in sygnet-core.

Writes two files under src/rust/core/tests/fixtures/:

- rdp-reference.csv: epsilon of the Poisson-subsampled Gaussian mechanism over a
  grid of (sigma, q, steps, delta), from opacus and from dp-accounting, both on the
  accountant's order grid;
- rdp-orders.csv: one-step RDP at single orders, from opacus and from mpmath at
  high precision (numerical integration of the Renyi divergence for fractional
  orders, the exact binomial sum for integer orders), and the divergence in the
  other direction (for orders up to 12; nan above).

Needs numpy, scipy, mpmath, dp-accounting and the opacus sources (installed with
--no-deps: only opacus/accountants/analysis/rdp.py is loaded, so torch is not
needed). tools/accountant-fixture.sh makes a virtual environment with the pinned
versions and runs this script. Nothing here is needed to build or test sygnet.
"""

import importlib.metadata
import importlib.util
import itertools
import os
import sys

import dp_accounting
import mpmath
from absl import logging as absl_logging
from dp_accounting import rdp as dp_rdp

FIXTURES = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "src", "rust", "core", "tests", "fixtures"
)

# The accountant's order grid: 1.1, 1.2, ..., 10.9, 11, 12, ..., 63, 128, 256, 512, 1024.
ORDERS = [i / 10 for i in range(11, 110)] + [float(a) for a in range(11, 64)] + [128.0, 256.0, 512.0, 1024.0]

SIGMAS = [0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0]
RATES = [1e-4, 1e-3, 0.01, 0.05, 0.1]
STEPS = [10, 100, 1000, 10000, 100000]
DELTAS = [1e-8, 1e-6, 1e-5, 1e-4]

ORDER_SIGMAS = [0.1, 0.15, 0.3, 0.5, 1.0, 2.0, 5.0, 20.0]
ORDER_RATES = [1e-6, 1e-4, 0.01, 0.1, 0.5, 0.9]
ORDER_ORDERS = [1.1, 1.5, 2.5, 7.3, 10.9, 2.0, 3.0, 12.0, 63.0, 256.0]

# Working precision of the mpmath reference, and how far its two quadrature
# rules may disagree before the script gives up.
DPS = 50
QUAD_AGREEMENT = mpmath.mpf("1e-18")


def load_opacus_rdp():
    """Loads opacus's RDP analysis module without importing opacus (and torch)."""
    spec = importlib.util.find_spec("opacus")
    path = os.path.join(spec.submodule_search_locations[0], "accountants", "analysis", "rdp.py")
    module_spec = importlib.util.spec_from_file_location("opacus_rdp_analysis", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def dp_accounting_epsilon(sigma, q, steps, delta):
    accountant = dp_rdp.RdpAccountant(ORDERS)
    event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma))
    accountant.compose(dp_accounting.SelfComposedDpEvent(event, steps))
    return float(accountant.get_epsilon(delta))


def quad_both(f, points):
    """Integrates f with two rules and checks that they agree."""
    a = mpmath.quad(f, points, method="tanh-sinh")
    b = mpmath.quad(f, points, method="gauss-legendre")
    scale = max(abs(a), abs(b))
    if scale > 0 and abs(a - b) > QUAD_AGREEMENT * scale:
        sys.exit(f"quadrature rules disagree: {a} vs {b}")
    return a


def mp_rdp_forward(q, sigma, alpha):
    """D_alpha(mixture || N(0, sigma^2)) = log E_0[(mu/mu0)^alpha] / (alpha - 1)."""
    q, sigma, alpha = mpmath.mpf(q), mpmath.mpf(sigma), mpmath.mpf(alpha)
    p = 1 - q
    if alpha == int(alpha):
        # Exact binomial sum; the k = 0 and k = 1 terms add up to 1.
        n = int(alpha)
        b = mpmath.fsum(
            mpmath.binomial(n, k) * p ** (n - k) * q**k * mpmath.expm1((k * k - k) / (2 * sigma**2))
            for k in range(2, n + 1)
        )
        return mpmath.log1p(b) / (alpha - 1)
    z0 = sigma**2 * mpmath.log(p / q) + mpmath.mpf(1) / 2
    return mp_divergence(q, sigma, alpha, [z0, alpha] + list(range(int(alpha) + 2)))


def mp_rdp_reverse(q, sigma, alpha):
    """D_alpha(N(0, sigma^2) || mixture) = log E_0[(mu/mu0)^(1 - alpha)] / (alpha - 1)."""
    q, sigma, alpha = mpmath.mpf(q), mpmath.mpf(sigma), mpmath.mpf(alpha)
    z0 = sigma**2 * mpmath.log((1 - q) / q) + mpmath.mpf(1) / 2
    return mp_divergence(q, sigma, 1 - alpha, [z0, 0, 1]) * (-alpha) / (alpha - 1)


def mp_divergence(q, sigma, s, breaks):
    """log E_0[Y^s] / (s - 1) with Y = mu/mu0, integrating Y^s - 1 - s (Y - 1) >= 0."""
    p = 1 - q

    def integrand(z):
        y = p + q * mpmath.exp((2 * z - 1) / (2 * sigma**2))
        return mpmath.npdf(z, 0, sigma) * (y**s - 1 - s * (y - 1))

    points = [-mpmath.inf] + sorted(set([mpmath.mpf(1) / 2] + breaks)) + [mpmath.inf]
    b = quad_both(integrand, points)
    return mpmath.log1p(b) / (s - 1)


def main():
    mpmath.mp.dps = DPS
    # dp-accounting warns for every fractional order whose series it cuts short (it
    # then leaves that order out, which can only raise its epsilon).
    absl_logging.set_verbosity(absl_logging.ERROR)
    opacus_rdp = load_opacus_rdp()
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ["opacus", "dp-accounting", "numpy", "scipy", "mpmath"]
    )
    os.makedirs(FIXTURES, exist_ok=True)

    rows = []
    for sigma, q in itertools.product(SIGMAS, RATES):
        per_step = opacus_rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=ORDERS)
        for steps, delta in itertools.product(STEPS, DELTAS):
            eps_opacus, _ = opacus_rdp.get_privacy_spent(orders=ORDERS, rdp=per_step * steps, delta=delta)
            eps_dp = dp_accounting_epsilon(sigma, q, steps, delta)
            rows.append((sigma, q, steps, delta, float(eps_opacus), eps_dp))
        print(f"epsilon: sigma={sigma} q={q} done", file=sys.stderr)
    with open(os.path.join(FIXTURES, "rdp-reference.csv"), "w") as out:
        out.write(f"# epsilon of the Poisson-subsampled Gaussian mechanism; {versions}\n")
        out.write("sigma,q,steps,delta,eps_opacus,eps_dp_accounting\n")
        for sigma, q, steps, delta, a, b in rows:
            out.write(f"{sigma!r},{q!r},{steps},{delta!r},{a!r},{b!r}\n")

    with open(os.path.join(FIXTURES, "rdp-orders.csv"), "w") as out:
        out.write(f"# one-step RDP of the Poisson-subsampled Gaussian mechanism; {versions}; mpmath at {DPS} digits\n")
        out.write("q,sigma,order,rdp_opacus,rdp_mpmath,rdp_mpmath_reverse\n")
        for sigma, q in itertools.product(ORDER_SIGMAS, ORDER_RATES):
            for alpha in ORDER_ORDERS:
                ours = float(opacus_rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=alpha))
                forward = float(mp_rdp_forward(q, sigma, alpha))
                # The reverse direction at high orders peaks where no break point
                # helps the quadrature; it is recorded up to order 12.
                reverse = float(mp_rdp_reverse(q, sigma, alpha)) if alpha <= 12 else float("nan")
                out.write(f"{q!r},{sigma!r},{alpha!r},{ours!r},{forward!r},{reverse!r}\n")
            print(f"orders: sigma={sigma} q={q} done", file=sys.stderr)


if __name__ == "__main__":
    main()
