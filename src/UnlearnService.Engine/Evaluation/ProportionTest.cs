namespace UnlearnService.Engine.Evaluation;

/// <summary>Two-proportion z-test, as used by the membership verdict.</summary>
public static class ProportionTest
{
    /// <summary>
    /// One-sided p-value of the pooled two-proportion z-test for H1: p₁ &gt; p₂, from x₁ successes in n₁ trials
    /// and x₂ in n₂. z = (p̂₁ − p̂₂) / √(p̂(1 − p̂)(1/n₁ + 1/n₂)) with the pooled p̂ = (x₁ + x₂)/(n₁ + n₂), and
    /// the p-value is P(Z ≥ z) under the standard normal (the usual large-sample approximation; with a handful
    /// of samples it is rough). When every trial has the same outcome (p̂ = 0 or 1) the proportions are
    /// equal, z is taken as 0 and the p-value is 0.5.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is negative, a sample is empty, or x &gt; n.</exception>
    public static double OneSidedGreaterPValue(int successes1, int trials1, int successes2, int trials2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(trials1, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(trials2, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(successes1);
        ArgumentOutOfRangeException.ThrowIfNegative(successes2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(successes1, trials1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(successes2, trials2);

        var p1 = (double)successes1 / trials1;
        var p2 = (double)successes2 / trials2;
        var pooled = (double)(successes1 + successes2) / (trials1 + trials2);
        var variance = pooled * (1 - pooled) * ((1.0 / trials1) + (1.0 / trials2));
        var z = variance > 0 ? (p1 - p2) / Math.Sqrt(variance) : 0.0;
        return NormalUpperTail(z);
    }

    /// <summary>P(Z ≥ z) for a standard normal Z, accurate to about 1e-14 relative.</summary>
    public static double NormalUpperTail(double z)
    {
        if (double.IsNaN(z))
        {
            return double.NaN;
        }

        // Φ̄(z) = ½·erfc(z/√2), and erfc(x) = Q(½, x²) for x ≥ 0 (regularised upper incomplete gamma).
        var x = Math.Abs(z) / Math.Sqrt(2.0);
        var tail = 0.5 * UpperGammaHalf(x * x);
        return z >= 0 ? tail : 1.0 - tail;
    }

    // Q(½, t): a power series for small t, Lentz's continued fraction otherwise (Numerical Recipes' split).
    private static double UpperGammaHalf(double t)
    {
        const double a = 0.5;
        const double logGammaHalf = 0.57236494292470008707; // ln Γ(½) = ln √π
        if (t <= 0)
        {
            return 1.0;
        }

        var prefactor = Math.Exp(-t + (a * Math.Log(t)) - logGammaHalf);
        if (t < a + 1)
        {
            // P(a, t) = e^{−t} t^a / Γ(a) · Σ t^n / (a(a+1)…(a+n)).
            var term = 1.0 / a;
            var sum = term;
            for (var n = 1; n < 500; n++)
            {
                term *= t / (a + n);
                sum += term;
                if (Math.Abs(term) < Math.Abs(sum) * 1e-16)
                {
                    break;
                }
            }

            return 1.0 - (sum * prefactor);
        }

        const double tiny = 1e-300;
        var b = t + 1 - a;
        var c = 1.0 / tiny;
        var d = 1.0 / b;
        var h = d;
        for (var i = 1; i < 500; i++)
        {
            var an = -i * (i - a);
            b += 2;
            d = (an * d) + b;
            if (Math.Abs(d) < tiny)
            {
                d = tiny;
            }

            c = b + (an / c);
            if (Math.Abs(c) < tiny)
            {
                c = tiny;
            }

            d = 1.0 / d;
            var delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1) < 1e-16)
            {
                break;
            }
        }

        return prefactor * h;
    }
}
