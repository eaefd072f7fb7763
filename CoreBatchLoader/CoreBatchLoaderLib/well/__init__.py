"""The well at depth without Slicer: depth tables, placement, proxies, overview and the well strip."""
