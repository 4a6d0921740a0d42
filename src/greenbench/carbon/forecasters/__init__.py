"""The carbon-intensity forecasters (one module each) and the windows they fit and predict on."""

from greenbench.carbon.forecasters.ridge import Ridge, ridge_alphas, ridge_names
from greenbench.carbon.forecasters.seasonal_naive import SeasonalNaive
from greenbench.carbon.forecasters.tcn import TCN
from greenbench.carbon.forecasters.windows import Windows, concat, make_windows

__all__ = ["Ridge", "SeasonalNaive", "TCN", "Windows", "concat", "make_windows", "ridge_alphas", "ridge_names"]
