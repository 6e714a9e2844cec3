from .sitenet import SiteNetDIM

__all__ = ["SiteNetDIM"]
