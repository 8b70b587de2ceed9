"""One module per method; each registers itself with `crossteg.methods.base.register`."""

from crossteg.methods.base import Capacity, Method, get_method, list_methods, method_ids, register

__all__ = ["Capacity", "Method", "get_method", "list_methods", "method_ids", "register"]
