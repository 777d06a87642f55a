-- dim_location: every address, as a delivery location.
-- Grain: one row per address_id (its latest version), keyed as location_id. Rebuilt whole each batch.
-- Sources: current_address.
-- address_line_2 and district stay NULL when the source has no value.
SELECT
  address_id AS location_id,
  address_line_1,
  address_line_2,
  district,
  city,
  postal_code,
  country,
  phone
FROM current_address
