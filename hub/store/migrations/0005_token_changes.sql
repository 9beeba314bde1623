-- A token revoked, changed or deleted is announced on channel `api_tokens` (payload: its hash),
-- so that API processes drop it from their caches at once instead of serving it until it ages out.
CREATE FUNCTION api_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('api_tokens', OLD.token_hash);
    RETURN NULL;
END;
$$;
CREATE TRIGGER api_tokens_changed AFTER UPDATE OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION api_tokens_changed();
