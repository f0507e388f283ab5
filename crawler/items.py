"""What a spider yields: one product picture with the label its search term gives it."""

import scrapy


class PictureItem(scrapy.Item):
    # set by the spider
    image_url = scrapy.Field()
    page_url = scrapy.Field()
    query = scrapy.Field()
    category = scrapy.Field()
    colour = scrapy.Field()
    # set by PicturePipeline once the picture is downloaded and accepted
    path = scrapy.Field()
    sha1 = scrapy.Field()
    phash = scrapy.Field()
    width = scrapy.Field()
    height = scrapy.Field()
    bytes = scrapy.Field()
    extension = scrapy.Field()
    fetched_at = scrapy.Field()
