"""Textbook optimizers in float64 numpy, written from each paper's pseudocode.

Each function takes the initial point ``w0``, a gradient function ``grad(w)`` and a number of
steps, and returns the iterates ``[w_1, ..., w_T]``. Nothing here imports gradlab or optax.
"""

import numpy as np


def heavy_ball(w0, grad, steps, lr, mu):
    """Polyak: v = mu v - lr g;  w = w + v."""
    w, v, out = np.array(w0, np.float64), np.zeros_like(w0, np.float64), []
    for _ in range(steps):
        v = mu * v - lr * grad(w)
        w = w + v
        out.append(w)
    return out


def nesterov(w0, grad, steps, lr, mu):
    """Sutskever/Bengio form: v = mu v_prev - lr g;  w = w - mu v_prev + (1 + mu) v."""
    w, v, out = np.array(w0, np.float64), np.zeros_like(w0, np.float64), []
    for _ in range(steps):
        v_prev = v
        v = mu * v_prev - lr * grad(w)
        w = w - mu * v_prev + (1 + mu) * v
        out.append(w)
    return out


def adagrad(w0, grad, steps, lr, g0=0.0, eps=1e-7):
    """Duchi et al.: G = G + g^2;  w = w - lr g / sqrt(G + eps)."""
    w, G, out = np.array(w0, np.float64), np.full_like(w0, g0, np.float64), []
    for _ in range(steps):
        g = grad(w)
        G = G + g * g
        w = w - lr * g / np.sqrt(G + eps)
        out.append(w)
    return out


def rmsprop(w0, grad, steps, lr, rho=0.9, eps=1e-8, eps_in_sqrt=True):
    """Hinton: r = rho r + (1 - rho) g^2;  w = w - lr g / sqrt(r + eps)."""
    w, r, out = np.array(w0, np.float64), np.zeros_like(w0, np.float64), []
    for _ in range(steps):
        g = grad(w)
        r = rho * r + (1 - rho) * g * g
        denom = np.sqrt(r + eps) if eps_in_sqrt else np.sqrt(r) + eps
        w = w - lr * g / denom
        out.append(w)
    return out


def centered_rmsprop(w0, grad, steps, lr, rho=0.9, eps=1e-8, mu=0.0, nesterov=False):
    """Graves (2013): m = rho m + (1-rho) g; r = rho r + (1-rho) g^2;
    d = -lr g / sqrt(r - m^2 + eps); heavy-ball (or Nesterov) momentum on d."""
    w = np.array(w0, np.float64)
    m, r, v, out = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w), []
    for _ in range(steps):
        g = grad(w)
        m = rho * m + (1 - rho) * g
        r = rho * r + (1 - rho) * g * g
        d = -lr * g / np.sqrt(r - m * m + eps)
        v_prev = v
        v = mu * v_prev + d
        w = w + (d + mu * v if nesterov else v)
        out.append(w)
    return out


def adadelta(w0, grad, steps, rho=0.9, eps=1e-6, lr=1.0):
    """Zeiler Alg. 1: E[g2] = rho E[g2] + (1-rho) g^2;
    dx = -sqrt(E[dx2] + eps) / sqrt(E[g2] + eps) g;  E[dx2] = rho E[dx2] + (1-rho) dx^2;
    w = w + lr dx."""
    w = np.array(w0, np.float64)
    eg, ex, out = np.zeros_like(w), np.zeros_like(w), []
    for _ in range(steps):
        g = grad(w)
        eg = rho * eg + (1 - rho) * g * g
        dx = -np.sqrt(ex + eps) / np.sqrt(eg + eps) * g
        ex = rho * ex + (1 - rho) * dx * dx
        w = w + lr * dx
        out.append(w)
    return out


def adam(w0, grad, steps, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba Alg. 1: m, v moving averages; m_hat = m/(1-b1^t), v_hat = v/(1-b2^t);
    w = w - lr m_hat / (sqrt(v_hat) + eps)."""
    w = np.array(w0, np.float64)
    m, v, out = np.zeros_like(w), np.zeros_like(w), []
    for t in range(1, steps + 1):
        g = grad(w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return out


def adamax(w0, grad, steps, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba Alg. 2: u = max(b2 u, |g|) (eps inside the max, as optax);
    w = w - (lr / (1 - b1^t)) m / u."""
    w = np.array(w0, np.float64)
    m, u, out = np.zeros_like(w), np.zeros_like(w), []
    for t in range(1, steps + 1):
        g = grad(w)
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        w = w - (lr / (1 - b1**t)) * m / u
        out.append(w)
    return out


def nadam(w0, grad, steps, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Dozat (2016) with a constant mu = b1:
    m_hat = b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t);  v_hat = v / (1 - b2^t)."""
    w = np.array(w0, np.float64)
    m, v, out = np.zeros_like(w), np.zeros_like(w), []
    for t in range(1, steps + 1):
        g = grad(w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return out


def amsgrad(w0, grad, steps, lr, b1=0.9, b2=0.999, eps=1e-8, bias_correction=True, nesterov=False):
    """Reddi et al.: v_max = max(v_max, v_hat); w = w - lr m_hat / (sqrt(v_max) + eps).
    bias_correction=False is the paper's Alg. 2 (no debiasing); nesterov uses Dozat's m_hat."""
    w = np.array(w0, np.float64)
    m, v, vmax, out = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w), []
    for t in range(1, steps + 1):
        g = grad(w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if nesterov:
            m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        else:
            m_hat = m / (1 - b1**t) if bias_correction else m
        vmax = np.maximum(vmax, v / (1 - b2**t) if bias_correction else v)
        w = w - lr * m_hat / (np.sqrt(vmax) + eps)
        out.append(w)
    return out
