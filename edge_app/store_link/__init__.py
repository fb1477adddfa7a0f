"""store_link"""
