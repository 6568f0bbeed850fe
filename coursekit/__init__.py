"""coursekit: the reference library of a course on how neural networks are trained.

Modules
    functional  pure forward/backward pairs (the mathematics)
    layers      Linear, activations, BatchNorm, Dropout, Sequential
    losses      SoftmaxCrossEntropy, MSE, l2_penalty
    init        weight initialisers with their variance formulas
    optim       update rules and optimisers
    data        toy and real data sets, splits, standardisation, one-hot
    train       a small, readable training loop
    gradcheck   numerical gradients and gradient-check reports
    experiments computations behind the chapters' figures (runs, curves, grids)
    viz         figures drawn from those computations; widgets: interactive explorers
    preprocessing  centring, whitening and other input transforms
    autodiff    a small reverse-mode (and forward-mode) autodiff engine on scalars
    pca         principal component analysis
    grading     helpers for the nbgrader assignments
"""
__version__ = "0.1.0"
