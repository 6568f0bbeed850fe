"""Experiments that compute and return data; coursekit.viz draws it.

Every function here returns plain arrays, NamedTuples or dataclasses, so a chapter
can assert on exactly the numbers a figure shows.  Nothing here imports matplotlib.

Module           what it computes                                         used by
activations      ACTIVATIONS, activation_curves (f, f', dead, saturated)  chapter 5
deep_networks    deep_network_run, layer_statistics (init experiment)     chapters 6, 8
batchnorm        batchnorm_run (running averages, train vs test mode)     chapter 7
surfaces         SURFACES, run_trajectories, surface_gap (2-D optimisers) chapter 8
decision         decision_grid (predicted class on a 2-D grid)            chapters 1, 4
autoencoders     build_autoencoder, train_autoencoder, knn_accuracy       chapter 10
regularisation   lasso_ista, gradient_descent_run, fit_early_stopping,    chapter 9
                 fgsm, adversarial_fit (as the module: .regularisation)
"""
from . import regularisation
from .activations import ACTIVATIONS, ActivationCurves, activation_curves, check_activation
from .autoencoders import (
    Autoencoder,
    AutoencoderHistory,
    build_autoencoder,
    knn_accuracy,
    reconstruction_error,
    train_autoencoder,
)
from .batchnorm import BatchNormRun, batchnorm_run
from .decision import decision_grid
from .deep_networks import DeepNetRun, LayerStats, deep_network_run, layer_statistics
from .surfaces import (
    RULES,
    SURFACES,
    Surface,
    Trajectory,
    get_surface,
    rule_hyperparameters,
    run_trajectories,
    surface_gap,
)

__all__ = [
    "regularisation",
    "Autoencoder", "AutoencoderHistory", "build_autoencoder", "knn_accuracy", "reconstruction_error",
    "train_autoencoder",
    "ACTIVATIONS", "ActivationCurves", "activation_curves", "check_activation",
    "BatchNormRun", "batchnorm_run",
    "decision_grid",
    "DeepNetRun", "LayerStats", "deep_network_run", "layer_statistics",
    "RULES", "SURFACES", "Surface", "Trajectory", "get_surface", "rule_hyperparameters",
    "run_trajectories", "surface_gap",
]
