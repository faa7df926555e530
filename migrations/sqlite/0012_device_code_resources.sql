-- Resource indicators (RFC 8707) on the device authorization grant: the
-- resources a device asked for at the device authorization endpoint, shown
-- on the /device consent page, remembered with the consent and carried to
-- the tokens' audience. Space-delimited absolute URIs as in 0011; null
-- means none was named.
alter table device_codes add column resources text;
