"""What a spider yields: one product picture with the label its search term gives it."""

import scrapy


class PictureItem(scrapy.Item):
    # set by the spider
    source_url = scrapy.Field()  # the picture's own URL, on whatever host serves it
    page_url = scrapy.Field()
    query = scrapy.Field()
    category = scrapy.Field()
    colour = scrapy.Field()
    colour_text = scrapy.Field()  # the shop's own words for the colour ("Navy Melange")
    colour_source = scrapy.Field()  # where those words were: structured_data, variant, swatch, name, ...
    # set by PicturePipeline once the picture is downloaded and accepted
    path = scrapy.Field()
    sha1 = scrapy.Field()
    phash = scrapy.Field()
    colour_hash = scrapy.Field()
    width = scrapy.Field()
    height = scrapy.Field()
    bytes = scrapy.Field()
    extension = scrapy.Field()
    fetched_at = scrapy.Field()
