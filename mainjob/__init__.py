"""The main job, ``shoplens demo`` / ``shoplens stop``: the top of the house, and the only
package that imports the crawler, training and serving together."""
